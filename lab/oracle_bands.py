"""Where does a model lose against the oracle mask? ``python -m lab.oracle_bands CKPT``.

On held-out MIR-1K (or any validation items) it scores, median fast SDR over items:
- the model's causal mask and the oracle ideal ratio mask ``|V| / (|V| + |A|)``;
- the model's mask with the oracle's put in one frequency band at a time: the gain says how much
  of the model's loss lies in that band;
- the oracle smoothed over a few frequency bins: how much a mask's frequency resolution is worth.

It writes the table as JSON and prints it. A diagnosis, not a benchmark: it uses the true stems.
Run from the repository root (``lab`` is not installed); its first result is
docs/experiments/sdr-sweep-v1.md (data: benchmarks/results/experiments/oracle-bands-v1.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import uniform_filter1d

from unsing.models import spectral
from unsing.models.data import ValidationItem, load_mir1k_validation
from unsing.models.metrics import sdr_db
from unsing.stft import StftSpec

#: Bands in Hz for the oracle substitution.
DEFAULT_BANDS_HZ: tuple[tuple[float, float], ...] = (
    (0.0, 300.0),
    (300.0, 1000.0),
    (1000.0, 2000.0),
    (2000.0, 4000.0),
    (4000.0, 8000.0),
    (8000.0, 22050.0),
)
#: Widths in bins of the moving average over frequency applied to the oracle.
DEFAULT_SMOOTHING_BINS: tuple[int, ...] = (3, 9)

#: ``|X| (batch, channels, bins, frames) -> mask`` of the same shape.
MaskFunction = Callable[[torch.Tensor], torch.Tensor]


def band_variants(
    model_mask: np.ndarray,
    oracle: np.ndarray,
    bin_hz: float,
    bands_hz: Sequence[tuple[float, float]],
    smoothing_bins: Sequence[int],
) -> dict[str, np.ndarray]:
    """The masks to score, ``(..., bins, frames)`` each, by name."""
    frequencies_hz = np.arange(oracle.shape[-2]) * bin_hz
    variants = {"model": model_mask, "oracle": oracle}
    for low, high in bands_hz:
        in_band = (frequencies_hz >= low) & (frequencies_hz < high)
        if not in_band.any():
            continue
        mixed = model_mask.copy()
        mixed[..., in_band, :] = oracle[..., in_band, :]
        variants[f"model, oracle {low:g}-{high:g} Hz"] = mixed
    for width in smoothing_bins:
        variants[f"oracle smoothed over {width} bins"] = uniform_filter1d(oracle, width, axis=-2)
    return variants


def diagnose(
    mask_function: MaskFunction,
    items: Iterable[ValidationItem],
    spec: StftSpec,
    channels: int,
    bands_hz: Sequence[tuple[float, float]] = DEFAULT_BANDS_HZ,
    smoothing_bins: Sequence[int] = DEFAULT_SMOOTHING_BINS,
) -> dict[str, dict[str, float]]:
    """Median SDR (dB) over ``items`` of vocals and accompaniment for each mask variant.

    Items are mono or stereo ``(channels, samples)``; mono is fed to the model as ``channels``
    copies and the estimates averaged back, as the quality report does.
    """
    scores: dict[str, list[tuple[float, float]]] = {}
    for item in items:
        mixture, vocals, accompaniment = item.mixture, item.vocals, item.accompaniment
        if mixture.shape[0] != channels:
            mixture, vocals, accompaniment = (
                np.repeat(x.mean(axis=0, keepdims=True), channels, axis=0)
                for x in (mixture, vocals, accompaniment)
            )
        num_samples = mixture.shape[-1]
        with torch.no_grad():
            spectrum = spectral.stft(torch.from_numpy(np.ascontiguousarray(mixture))[None], spec)
            vocal_magnitude = spectral.stft(torch.from_numpy(vocals)[None], spec).abs()
            accompaniment_magnitude = spectral.stft(
                torch.from_numpy(accompaniment)[None], spec
            ).abs()
            model_mask = mask_function(spectrum.abs()).numpy()
        oracle = (vocal_magnitude / (vocal_magnitude + accompaniment_magnitude + 1e-8)).numpy()
        bin_hz = item.sample_rate_hz / spec.n_fft
        for name, mask in band_variants(
            model_mask, oracle, bin_hz, bands_hz, smoothing_bins
        ).items():
            weights = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
            with torch.no_grad():
                vocal_estimate = spectral.istft(weights * spectrum, spec, num_samples)[0].numpy()
                accompaniment_estimate = spectral.istft(
                    (1 - weights) * spectrum, spec, num_samples
                )[0].numpy()
            channels_out = item.vocals.shape[0]
            if channels_out != channels:
                vocal_estimate = vocal_estimate.mean(axis=0, keepdims=True)
                accompaniment_estimate = accompaniment_estimate.mean(axis=0, keepdims=True)
            scores.setdefault(name, []).append(
                (
                    sdr_db(item.vocals, vocal_estimate),
                    sdr_db(item.accompaniment, accompaniment_estimate),
                )
            )
    if not scores:
        raise ValueError("no validation items to diagnose")
    return {
        name: {
            "vocals_sdr_db": round(float(np.median([v for v, _ in values])), 3),
            "accompaniment_sdr_db": round(float(np.median([a for _, a in values])), 3),
            "items": len(values),
        }
        for name, values in scores.items()
    }


def render(table: dict[str, dict[str, float]]) -> str:
    """The table as Markdown, with each variant's gain over the model's mask."""
    base = table["model"]
    lines = [
        "| mask | vocals SDR | acc. SDR | vocals gain | acc. gain |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in table.items():
        lines.append(
            f"| {name} | {row['vocals_sdr_db']:.2f} | {row['accompaniment_sdr_db']:.2f} | "
            f"{row['vocals_sdr_db'] - base['vocals_sdr_db']:+.2f} | "
            f"{row['accompaniment_sdr_db'] - base['accompaniment_sdr_db']:+.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.oracle_bands", description=__doc__.splitlines()[0]
    )
    parser.add_argument("checkpoint", type=Path, help="a training checkpoint (.pt)")
    parser.add_argument("--data-root", type=Path, default=None, help="the shared/data folder")
    parser.add_argument("--max-items", type=int, default=None, help="MIR-1K clips (all: 85)")
    parser.add_argument("--out", type=Path, default=None, help="write the table as JSON here")
    args = parser.parse_args(argv)
    from unsing.models.quality import default_data_root
    from unsing.models.train import load_checkpoint

    model, state = load_checkpoint(args.checkpoint)
    model.eval()
    contract = state["contract"]
    spec = StftSpec(int(contract["n_fft"]), int(contract["hop_samples"]), str(contract["window"]))
    items = load_mir1k_validation(
        args.data_root or default_data_root(),
        int(contract["sample_rate_hz"]),
        max_items=args.max_items,
    )
    table = diagnose(model.mask, items, spec, int(contract["channels"]))
    print(render(table))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"checkpoint": str(args.checkpoint), "mir1k": table}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
