"""Quality against latency: the user's guide to choosing a latency.

On held-out material (default: the MIR-1K validation singers), BSS Eval v4 SDR of
* the oracle ideal ratio mask for STFT sizes n_fft 256 .. 4096 (hop n_fft / 4): the ceiling any
  mask with that window can reach, at that window's algorithmic latency (n_fft samples);
* the causal unsing models given as ``NAME=CHECKPOINT`` (their latency from their contract:
  n_fft + look-ahead * hop), and, for the first of them, the engine's online Griffin-Lim
  resynthesis (its look-ahead adds latency) run through the real streaming engine on ONNX;
* the mixture and centre-channel cancellation (no latency: they need no window);
* Spleeter 2-stems, offline and non-causal (drawn as a line: it has no live latency).

    python -m unsing.benchmarks.quality_latency \
        --checkpoint unsing=models/pretrained/unsing-default.pt

Writes ``benchmarks/results/quality_latency.json`` and ``quality_latency.png``. Needs the train
and bench extras (torch for the checkpoints and Spleeter, museval).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from unsing.benchmarks.machine import describe_machine
from unsing.benchmarks.stability import RESULTS
from unsing.config import load_config
from unsing.stft import StftSpec

N_FFTS = (256, 512, 1024, 2048, 4096)
SAMPLE_RATE_HZ = 44100


class EngineGriffinLim:
    """The streaming engine on the shipped ONNX model with online Griffin-Lim resynthesis,
    as a separator ``(mixture (channels, samples), rate) -> (vocals, accompaniment)``."""

    def __init__(self, lookahead_frames: int, iterations: int) -> None:
        from unsing.realtime.onnx_model import OnnxMaskModel

        self.config = load_config(
            overrides=[
                "engine.resynthesis=griffin_lim",
                f"engine.griffin_lim_lookahead_frames={lookahead_frames}",
                f"engine.griffin_lim_iterations={iterations}",
            ]
        )
        self.model = OnnxMaskModel(self.config)
        self.latency_samples = self.config.stft.n_fft + lookahead_frames * 256

    def __call__(self, mixture: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
        from unsing.realtime.engine import SeparationEngine
        from unsing.realtime.render import render

        assert sample_rate_hz == SAMPLE_RATE_HZ
        stereo = np.repeat(mixture, 2, axis=0) if mixture.shape[0] == 1 else mixture
        stems = render(SeparationEngine(self.config, self.model, stems=True), stereo.T)
        vocals, accompaniment = stems[:, :2].T, stems[:, 2:].T
        if mixture.shape[0] == 1:
            vocals = vocals.mean(0, keepdims=True)
            accompaniment = accompaniment.mean(0, keepdims=True)
        return vocals.astype(np.float32), accompaniment.astype(np.float32)


def run(checkpoints: list[str], sets: list[str], max_items: int | None) -> dict[str, Any]:
    """Score every point; the result document (per set: method -> latency and scores)."""
    from unsing.models.baselines import OracleSeparator, make_separators, oracle_ratio_mask
    from unsing.models.quality import quality_report
    from unsing.models.separator import CheckpointSeparator

    separators: dict[str, Any] = make_separators(["mixture", "centre_cancel", "spleeter"])
    latency_ms: dict[str, float | None] = {"mixture": 0.0, "centre_cancel": 0.0, "spleeter": None}
    for n_fft in N_FFTS:
        spec = StftSpec(n_fft=n_fft, hop_samples=n_fft // 4, window="hann")

        def oracle(mixture, vocals, accompaniment, spec=spec):
            return oracle_ratio_mask(mixture, vocals, accompaniment, spec)

        name = f"oracle_irm n_fft {n_fft}"
        separators[name] = OracleSeparator(oracle)
        latency_ms[name] = 1000.0 * n_fft / SAMPLE_RATE_HZ
    for index, item in enumerate(checkpoints):
        name, _, path = item.rpartition("=")
        separator = CheckpointSeparator(path)
        separators[name] = separator
        contract = separator.state["contract"]
        samples = contract["n_fft"] + contract["lookahead_frames"] * contract["hop_samples"]
        latency_ms[name] = 1000.0 * samples / contract["sample_rate_hz"]
        if index == 0:
            griffin_lim = EngineGriffinLim(lookahead_frames=3, iterations=4)
            separators[f"{name} + online Griffin-Lim"] = griffin_lim
            latency_ms[f"{name} + online Griffin-Lim"] = (
                1000.0 * griffin_lim.latency_samples / SAMPLE_RATE_HZ
            )
    report = quality_report(
        separators,
        max_items_per_set=max_items,
        sets=sets,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    points = {
        set_name: {
            method: {
                "latency_ms": latency_ms.get(method),
                "vocals_sdr_db": scores["vocals"]["SDR"],
                "accompaniment_sdr_db": scores["accompaniment"]["SDR"],
            }
            for method, scores in methods.items()
        }
        for set_name, methods in report["results"].items()
    }
    return {
        "machine": describe_machine(),
        "convention": report["metadata"]["convention"],
        "sets": report["sets"],
        "points": points,
    }


def plot(document: dict[str, Any], path: Path) -> Path:
    """SDR against algorithmic latency, one panel per stem, first set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    set_name, points = next(iter(document["points"].items()))
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for axis, stem in zip(axes, ("vocals", "accompaniment"), strict=True):
        key = f"{stem}_sdr_db"
        oracle = sorted(
            (p["latency_ms"], p[key]) for m, p in points.items() if m.startswith("oracle")
        )
        axis.plot(*zip(*oracle, strict=True), "o-", color="grey", label="oracle ratio mask")
        for method, point in points.items():
            if method.startswith("oracle") or point[key] is None:
                continue
            if point["latency_ms"] is None:
                axis.axhline(
                    point[key], linestyle="--", color="tab:red", label=f"{method} (offline)"
                )
            else:
                axis.plot(point["latency_ms"], point[key], "s", markersize=8, label=method)
        axis.set_xlabel("algorithmic latency (ms)")
        axis.set_title(f"{stem}, {set_name}")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("BSS Eval v4 SDR (dB)")
    axes[1].legend(fontsize=8, loc="lower right")
    figure.suptitle(f"Quality vs latency, {document['machine']['date_utc']} UTC")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m unsing.benchmarks.quality_latency``."""
    parser = argparse.ArgumentParser(prog="python -m unsing.benchmarks.quality_latency")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH.pt")
    parser.add_argument("--sets", default="mir1k")
    parser.add_argument("--max-items", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "quality_latency.json")
    args = parser.parse_args(argv)
    document = run(args.checkpoint, args.sets.split(","), args.max_items)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"quality_latency: wrote {args.out} and {plot(document, args.out.with_suffix('.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
