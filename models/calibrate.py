"""Calibrate a trained model's mask on training material and fold it into the weights:
``python -m unsing.models.calibrate CHECKPOINT --out CALIBRATED.pt``.

The training loss (L1 on magnitudes, plus a waveform term) is not the SDR the model is judged
by, and the random mixes put the voice 12 dB below to 6 dB above the accompaniment. The trained
mask comes out too shy: on held-out MIR-1K its vocals have a high SIR (12.5 dB) and a low SAR
(5.8 dB), and the accompaniment keeps the voice (SIR 7.4 dB). Recalibrating the mask in the
logit domain,

    mask' = sigmoid(slope * logit(mask) + bias),

with one ``slope`` and one ``bias`` for the whole model, moves that balance. Because the mask is
``sigmoid(head(x))`` with ``head`` a 1x1 convolution, the calibration folds exactly into
``head``'s weights (``slope * W``) and bias (``slope * b + bias``): the calibrated model has the
same architecture, the same ONNX graph and the same compute per hop.

The two numbers are fitted on *training* material only, never on the validation sets: MIR-1K
clips of training singers mixed at 0 dB (as the validation protocol mixes its held-out singers)
and the everything-is-free training tracks at their true level. The objective is the mean over
the two sets of the median (over items) SDR of both stems, measured on the complex spectrogram
(``|S|^2 / |S - mask X|^2``, which by the tight-frame STFT tracks the waveform SDR); the chosen
point is then re-scored on waveforms.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unsing.models import spectral
from unsing.models.atomic_save import save_atomically
from unsing.models.checkpoint import load_checkpoint
from unsing.models.data import (
    EIF_VALIDATION_TRACKS,
    MIR1K_VALIDATION_SINGERS,
    ValidationItem,
    default_data_root,
    load_everything_is_free,
    load_mir1k_validation,
    mir1k_clip_paths,
    mir1k_singer,
)
from unsing.models.metrics import sdr_db
from unsing.models.unet import CausalUNet
from unsing.stft import StftSpec

#: The grid searched: slopes (< 1 softens the mask) and biases (> 0 favours the voice).
SLOPES = tuple(np.round(np.arange(0.4, 1.41, 0.1), 2))
BIASES = tuple(np.round(np.arange(-0.5, 2.01, 0.25), 2))


@dataclass(frozen=True)
class Calibration:
    """A fitted logit-domain calibration and what it did on the material it was fitted on."""

    slope: float
    bias: float
    objective_before_db: float
    objective_after_db: float
    waveform_sdr_before_db: dict[str, dict[str, float]]
    waveform_sdr_after_db: dict[str, dict[str, float]]
    fitted_on: dict[str, Any]


def _logit(mask: torch.Tensor) -> torch.Tensor:
    """``log(mask / (1 - mask))``, the mask kept 1e-7 inside (0, 1)."""
    clipped = mask.clamp(1e-7, 1 - 1e-7)
    return torch.log(clipped) - torch.log1p(-clipped)


def calibrated_mask(mask: torch.Tensor, slope: float, bias: float) -> torch.Tensor:
    """``sigmoid(slope * logit(mask) + bias)``, the reference the folded model must match."""
    return torch.sigmoid(slope * _logit(mask) + bias)


def fold_calibration(model: CausalUNet, slope: float, bias: float) -> None:
    """Fold the calibration into ``model.head`` in place (exact: the head is a 1x1 conv); the
    low-band network's output layer, which adds to the head's logits (bias included), is scaled
    by ``slope``."""
    with torch.no_grad():
        model.head.weight.mul_(slope)
        model.head.bias.mul_(slope).add_(bias)
        if model.low_band is not None:
            model.low_band.out.weight.mul_(slope)
            model.low_band.out.bias.mul_(slope)


def without_calibration(
    model_state: dict[str, torch.Tensor], calibration: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """The weights before :func:`fold_calibration` (its exact inverse, up to rounding): a
    fine-tune starts from the trained network and is calibrated afresh afterwards."""
    slope, bias = float(calibration["slope"]), float(calibration["bias"])
    state = dict(model_state)
    state["head.weight"] = model_state["head.weight"] / slope
    state["head.bias"] = (model_state["head.bias"] - bias) / slope
    if "low_band.out.weight" in model_state:
        state["low_band.out.weight"] = model_state["low_band.out.weight"] / slope
        state["low_band.out.bias"] = model_state["low_band.out.bias"] / slope
    return state


def training_items(
    data_root: Path,
    sample_rate_hz: int,
    mir1k_clips: int,
    eif_excerpt_seconds: float,
    mir1k_singers: tuple[str, ...] = (),
) -> list[ValidationItem]:
    """Calibration material from the training side of the split only.

    ``mir1k_clips`` clips spread evenly over the training singers' sorted clip list (only
    ``mir1k_singers``' when given: those a run kept out of training, ``train.calibration_singers``),
    mixed at 0 dB exactly as the validation clips are, and every everything-is-free training
    track (its ``eif_excerpt_seconds`` with the most vocal energy, at the true level)."""
    items: list[ValidationItem] = []
    folder = data_root / "mir1k" / "audio"
    if folder.is_dir() and mir1k_clips > 0:
        paths = mir1k_clip_paths(
            folder, singers_excluded=MIR1K_VALIDATION_SINGERS, singers_only=mir1k_singers or None
        )
        chosen = {p.stem for p in paths[:: max(1, len(paths) // mir1k_clips)][:mir1k_clips]}
        singers = sorted({mir1k_singer(Path(name)) for name in chosen})
        if singers:
            clips = load_mir1k_validation(data_root, sample_rate_hz, singers=singers)
            items += [item for item in clips if item.name in chosen]
    eif = data_root / "everything-is-free"
    if eif.is_dir():
        tracks = sorted(
            p.name
            for p in eif.iterdir()
            if (p / "vocals.ogg").is_file() and p.name not in EIF_VALIDATION_TRACKS
        )
        items += load_everything_is_free(
            data_root, sample_rate_hz, tracks=tracks, excerpt_seconds=eif_excerpt_seconds
        )
    if not items:
        raise FileNotFoundError(
            f"no calibration material (MIR-1K or everything-is-free) under {data_root}"
        )
    return items


def _db(signal_energy: torch.Tensor, error_energy: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10((signal_energy + 1e-9) / (error_energy + 1e-9))


def _summary(per_set: dict[str, list[float]]) -> float:
    """Mean over sets of the median over items."""
    return float(np.mean([np.median(values) for values in per_set.values()]))


def fit_calibration(
    model: CausalUNet,
    items: list[ValidationItem],
    spec: StftSpec,
    slopes: tuple[float, ...] = SLOPES,
    biases: tuple[float, ...] = BIASES,
) -> Calibration:
    """Grid-search ``(slope, bias)`` for the best spectral SDR objective (module docstring).

    Each item's mask is computed once, causally, as the live engine computes it; mono items are
    duplicated to the model's channels (as the quality report does)."""
    model.eval()
    channels = model.config.audio_channels
    grid = [(float(a), float(b)) for a in slopes for b in biases]
    objective: dict[tuple[float, float], dict[str, list[float]]] = {g: {} for g in grid}
    masks: list[torch.Tensor] = []
    with torch.no_grad():
        for item in items:
            mixture = np.repeat(item.mixture, channels // item.mixture.shape[0], axis=0)
            vocals = np.repeat(item.vocals, channels // item.vocals.shape[0], axis=0)
            spectrum = spectral.stft(torch.from_numpy(mixture).float(), spec)
            vocal_spectrum = spectral.stft(torch.from_numpy(vocals).float(), spec)
            mask = model.mask(spectrum.abs()[None])[0]
            vocal_energy = vocal_spectrum.abs().square().sum()
            accompaniment_energy = (spectrum - vocal_spectrum).abs().square().sum()
            logit = _logit(mask)  # once per item, for the whole grid
            for slope, bias in grid:
                # the accompaniment's error is minus the vocals' error: one energy serves both
                error = vocal_spectrum - torch.sigmoid(slope * logit + bias) * spectrum
                error_energy = error.abs().square().sum()
                score = 0.5 * (
                    _db(vocal_energy, error_energy) + _db(accompaniment_energy, error_energy)
                )
                objective[(slope, bias)].setdefault(item.set_name, []).append(float(score))
            masks.append(mask)
    summaries = {g: _summary(per_set) for g, per_set in objective.items()}
    slope, bias = max(grid, key=lambda g: summaries[g])
    identity = min(grid, key=lambda g: abs(g[0] - 1.0) + abs(g[1]))
    before = _waveform_scores(items, masks, spec, 1.0, 0.0)
    after = _waveform_scores(items, masks, spec, slope, bias)
    return Calibration(
        slope=slope,
        bias=bias,
        objective_before_db=round(summaries[identity], 3),
        objective_after_db=round(summaries[(slope, bias)], 3),
        waveform_sdr_before_db=before,
        waveform_sdr_after_db=after,
        fitted_on={
            name: [item.name for item in items if item.set_name == name]
            for name in sorted({item.set_name for item in items})
        },
    )


def _waveform_scores(
    items: list[ValidationItem],
    masks: list[torch.Tensor],
    spec: StftSpec,
    slope: float,
    bias: float,
) -> dict[str, dict[str, float]]:
    """Median fast SDR per set and stem with the calibrated masks, on waveforms."""
    per_set: dict[str, dict[str, list[float]]] = {}
    with torch.no_grad():
        for item, mask in zip(items, masks, strict=True):
            channels = mask.shape[0]
            mixture = np.repeat(item.mixture, channels // item.mixture.shape[0], axis=0)
            spectrum = spectral.stft(torch.from_numpy(mixture).float(), spec)
            vocals = spectral.istft(
                calibrated_mask(mask, slope, bias) * spectrum, spec, mixture.shape[-1]
            ).numpy()
            if item.mixture.shape[0] != channels:  # mono item: average the duplicated channels
                vocals = vocals.mean(axis=0, keepdims=True)
            scores = per_set.setdefault(item.set_name, {"vocals": [], "accompaniment": []})
            scores["vocals"].append(sdr_db(item.vocals, vocals))
            scores["accompaniment"].append(sdr_db(item.accompaniment, item.mixture - vocals))
    return {
        name: {stem: round(float(np.median(values)), 3) for stem, values in stems.items()}
        for name, stems in per_set.items()
    }


def calibrate_checkpoint(
    checkpoint: Path,
    out: Path,
    data_root: Path,
    mir1k_clips: int = 120,
    eif_excerpt_seconds: float = 30.0,
) -> Calibration:
    """Fit the calibration for ``checkpoint`` and write ``out``: the same checkpoint with the
    calibration folded into the head and recorded under ``"calibration"``."""
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    try:
        model, state = load_checkpoint(checkpoint)
    except Exception as error:  # torch.load raises pickle, zip, runtime and key errors
        raise ValueError(f"{checkpoint}: not a usable unsing checkpoint ({error})") from None
    if state.get("calibration"):
        raise ValueError(f"{checkpoint} is already calibrated: calibrate the uncalibrated one")
    if model.long_band is not None:
        raise ValueError(
            f"{checkpoint} has a long-window band: calibrate the U-Net before fitting it "
            "(python -m unsing.models.fit_long_band keeps the U-Net's calibration)"
        )
    contract = state["contract"]
    spec = StftSpec(int(contract["n_fft"]), int(contract["hop_samples"]), str(contract["window"]))
    held_out = tuple(state.get("config", {}).get("train", {}).get("calibration_singers") or ())
    items = training_items(
        data_root, int(contract["sample_rate_hz"]), mir1k_clips, eif_excerpt_seconds, held_out
    )
    calibration = fit_calibration(model, items, spec)
    fold_calibration(model, calibration.slope, calibration.bias)
    calibrated = dict(state)
    calibrated["model_state"] = model.state_dict()
    calibrated.pop("train_model_state", None)  # raw weights: resume the uncalibrated run instead
    calibrated["calibration"] = {**asdict(calibration), "source_checkpoint": str(checkpoint)}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(calibrated, out)
    return calibration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unsing.models.calibrate", description=__doc__)
    parser.add_argument("checkpoint", type=Path, help="a training checkpoint (runs/NAME/last.pt)")
    parser.add_argument("--out", type=Path, required=True, help="the calibrated checkpoint")
    parser.add_argument("--data-root", type=Path, default=None, help="default: ../shared/data")
    parser.add_argument("--mir1k-clips", type=int, default=120, help="training clips used")
    parser.add_argument("--eif-seconds", type=float, default=30.0, help="excerpt per track")
    args = parser.parse_args(argv)
    try:
        calibration = calibrate_checkpoint(
            args.checkpoint,
            args.out,
            args.data_root or default_data_root(),
            args.mir1k_clips,
            args.eif_seconds,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"unsing: {error}", file=sys.stderr)
        return 2
    print(
        f"unsing: mask calibrated with slope {calibration.slope:g}, bias {calibration.bias:+g}: "
        f"objective {calibration.objective_before_db:.2f} -> {calibration.objective_after_db:.2f} "
        f"dB on training material; waveform SDR {calibration.waveform_sdr_before_db} -> "
        f"{calibration.waveform_sdr_after_db}; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
