"""Quality against latency: the user's guide to choosing a latency.

On held-out material (default: the MIR-1K validation singers), BSS Eval v4 SDR of
* the oracle ideal ratio mask for STFT sizes n_fft 256 .. 4096 (hop n_fft / 4): the ceiling any
  mask with that window can reach, at that window's algorithmic latency (n_fft samples);
* trained unsing models given as ``NAME=CHECKPOINT``, each placed at the latency its contract
  implies (n_fft + look-ahead * hop, at blocksize = hop). ``scripts/train_sweep.sh`` trains the
  sweep: the shipped model fine-tuned with one recipe (2 epochs, peak learning rate 1e-3, seed
  1236) into each n_fft / hop / context / look-ahead, so the points differ only in that setting;
* the streaming engine's online Griffin-Lim resynthesis on the shipped ONNX model (its
  look-ahead adds latency);
* the mixture and centre-channel cancellation (no latency: they need no window);
* Spleeter 2-stems, offline and non-causal (drawn as a line: it has no live latency).

    python -m unsing.benchmarks.quality_latency \
        --checkpoint shipped=models/pretrained/unsing-default.pt \
        --checkpoint sweep-n512-h128-v1=runs/sweep-n512-h128-v1/last.pt ...

Writes ``benchmarks/results/quality_latency.json`` and ``quality_latency.png``. Needs the train
and bench extras (torch for the checkpoints and Spleeter, museval).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from unsing.benchmarks.machine import describe_machine
from unsing.benchmarks.report import measured_on_machine, save_figure
from unsing.benchmarks.stability import RESULTS
from unsing.config import Config, load_config
from unsing.contract import ModelContract
from unsing.latency import Latency
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
        self.latency = Latency.from_config(self.config)

    def __call__(self, mixture: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
        from unsing.realtime.engine import SeparationEngine
        from unsing.realtime.render import render_stems

        assert sample_rate_hz == SAMPLE_RATE_HZ
        return render_stems(SeparationEngine(self.config, self.model, stems=True), mixture)


def _contract_config(contract: dict[str, Any]) -> Config:
    """The engine configuration for a checkpoint's contract, at blocksize = hop."""
    return load_config(
        overrides=[
            f"audio.blocksize_samples={contract['hop_samples']}",
            "model.intra_op_threads=1",
        ],
        contract=ModelContract(
            sample_rate_hz=contract["sample_rate_hz"],
            channels=contract["channels"],
            stft=StftSpec(contract["n_fft"], contract["hop_samples"], contract["window"]),
            context_frames=contract["context_frames"],
            lookahead_frames=contract["lookahead_frames"],
            source="checkpoint contract",
        ),
    )


def _lineage(init: dict[str, Any]) -> str:
    """What a fine-tune started from, down to the run at the root of the chain: e.g.
    ``default-v2 + 1500 steps`` for the shipped model, whether it is named by its run
    (``runs/default-v3/last.pt``) or by its packaged copy (``models/pretrained/*.pt``)."""
    earlier = init.get("init_checkpoint")
    if earlier:
        return f"{_lineage(earlier)} + {init.get('step')} steps"
    source = Path(init["path"])
    if source.name in ("last.pt", "best.pt"):
        return source.parent.name
    return f"{init.get('step')} steps"


def _checkpoint_point(separator: Any, path: str) -> dict[str, Any]:
    """Latency and the settings that place a trained model in the sweep."""
    state, contract = separator.state, separator.state["contract"]
    init = state.get("init_checkpoint")
    trained = f"{state['step']} steps"
    if init:
        trained = f"{_lineage(init)} + {state['step']} steps"
    if state.get("calibration"):
        trained += " + calibration"
    if state.get("fitted_by") == "unsing.models.fit_long_band" and init:
        # the U-Net (calibrated) as it came, then the band fitted alone
        trained = f"{_lineage(init)} + calibration + long band, {state['step']} steps"
    return {
        "family": "model",
        "latency_ms": Latency.from_config(_contract_config(contract)).algorithmic_ms,
        "n_fft": contract["n_fft"],
        "hop_samples": contract["hop_samples"],
        "context_frames": contract["context_frames"],
        "lookahead_frames": contract["lookahead_frames"],
        "trained": trained,
        "checkpoint": path,
        "checkpoint_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12],
    }


def engine_compute(checkpoint: str, contract: dict[str, Any], hops: int) -> dict[str, Any]:
    """The live cost of a trained model: exported to ONNX (streaming graph, parity-checked by
    the export) and run by the engine at blocksize = hop for ``hops`` hops (1 thread).

    Returns ``{"engine_ms_p50", "engine_ms_p99", "hop_period_ms", "share_of_hop_p50"}``.
    """
    import tempfile

    from unsing.benchmarks.compute import per_hop
    from unsing.export.export_checkpoint import export_checkpoint

    with tempfile.TemporaryDirectory() as folder:
        onnx_path = Path(folder) / "model.onnx"
        export_checkpoint(Path(checkpoint), onnx_path)
        measured = per_hop(_contract_config(contract), onnx_path, hops)
    engine = measured["engine"]
    return {
        "engine_ms_p50": engine["ms"]["p50"],
        "engine_ms_p99": engine["ms"]["p99"],
        "hop_period_ms": measured["hop_period_ms"],
        "share_of_hop_p50": round(engine["ms"]["p50"] / measured["hop_period_ms"], 4),
    }


def reusable_points(
    previous: dict[str, Any] | None, sets: list[str], checkpoints: dict[str, str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Points of an earlier document that this run would measure again unchanged, per set.

    Reused: the baselines and oracles (they depend on the material only), trained models whose
    checkpoint file has the same sha256 prefix, and trained models this run does not name at
    all (e.g. sweep runs that are not in this checkout: their points stay as measured, their
    checkpoint hash says which weights), when the earlier document scored the same sets with
    the same items. Never reused: the online Griffin-Lim points (they run the shipped ONNX
    model, which the document does not fingerprint). Each reused point records the run it was
    measured in (``reused_from``)."""
    if previous is None or any(
        name not in previous["points"] or previous["sets"].get(name, {}).get("tracks") is None
        for name in sets
    ):
        return {}
    measured = previous.get("machine", {})
    origin = {"date_utc": measured.get("date_utc"), "git_commit": measured.get("git_commit")}
    reused: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in sets}
    for method in previous["points"][sets[0]]:
        points = [previous["points"][name].get(method) for name in sets]
        if any(point is None for point in points):
            continue
        family = points[0]["family"]
        if family == "griffin_lim":
            continue
        if family == "model" and method in checkpoints:
            path = checkpoints[method]
            if not Path(path).is_file():
                continue
            sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
            if any(point.get("checkpoint_sha256") != sha for point in points):
                continue
        for name, point in zip(sets, points, strict=True):
            reused[name][method] = {**point, "reused_from": point.get("reused_from", origin)}
    return reused


def run(
    checkpoints: list[str],
    sets: list[str],
    max_items: int | None,
    griffin_lim: tuple[tuple[int, int], ...] = ((3, 4),),
    compute_hops: int = 0,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score every point; the result document (per set: method -> latency, settings, scores).

    ``checkpoints``: ``NAME=PATH.pt``; ``griffin_lim``: ``(lookahead_frames, iterations)`` of the
    online Griffin-Lim points, run on the shipped ONNX model by the streaming engine;
    ``compute_hops``: also time each model in the engine for that many hops (0: not);
    ``previous``: an earlier document whose unchanged points are copied, not re-measured
    (:func:`reusable_points`; only when it was scored with the same ``max_items``).
    """
    named = {name: path for name, _, path in (item.rpartition("=") for item in checkpoints)}
    same_items = previous is not None and previous.get("max_items_per_set") == max_items
    reused = reusable_points(previous, sets, named) if same_items else {}
    skip = set.intersection(*(set(points) for points in reused.values())) if reused else set()
    from unsing.models.baselines import OracleSeparator, make_separators, oracle_ratio_mask
    from unsing.models.quality import quality_report
    from unsing.models.separator import CheckpointSeparator

    baselines = [m for m in ("mixture", "centre_cancel", "spleeter") if m not in skip]
    separators: dict[str, Any] = make_separators(baselines) if baselines else {}
    settings: dict[str, dict[str, Any]] = {
        "mixture": {"family": "baseline", "latency_ms": 0.0},
        "centre_cancel": {"family": "baseline", "latency_ms": 0.0},
        "spleeter": {"family": "baseline", "latency_ms": None},
    }
    for n_fft in N_FFTS:
        spec = StftSpec(n_fft=n_fft, hop_samples=n_fft // 4, window="hann")

        def oracle(mixture, vocals, accompaniment, spec=spec):
            return oracle_ratio_mask(mixture, vocals, accompaniment, spec)

        name = f"oracle_irm n_fft {n_fft}"
        if name in skip:
            continue
        separators[name] = OracleSeparator(oracle)
        settings[name] = {
            "family": "oracle",
            "latency_ms": 1000.0 * n_fft / SAMPLE_RATE_HZ,
            "n_fft": n_fft,
            "hop_samples": n_fft // 4,
        }
    for name, path in named.items():
        if name in skip:
            continue
        separators[name] = CheckpointSeparator(path)
        settings[name] = _checkpoint_point(separators[name], path)
        if compute_hops > 0:
            contract = separators[name].state["contract"]
            settings[name]["compute"] = engine_compute(path, contract, compute_hops)
    for lookahead_frames, iterations in griffin_lim:
        name = f"shipped + online Griffin-Lim (look-ahead {lookahead_frames}, {iterations} it.)"
        separators[name] = EngineGriffinLim(lookahead_frames, iterations)
        settings[name] = {
            "family": "griffin_lim",
            "latency_ms": separators[name].latency.algorithmic_ms,
            "griffin_lim_lookahead_frames": lookahead_frames,
            "griffin_lim_iterations": iterations,
        }
    report = quality_report(
        separators,
        max_items_per_set=max_items,
        sets=sets,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    points = {
        set_name: {
            **{method: reused[set_name][method] for method in sorted(skip)},
            **{
                method: {
                    **settings[method],
                    "vocals_sdr_db": scores["vocals"]["SDR"],
                    "accompaniment_sdr_db": scores["accompaniment"]["SDR"],
                }
                for method, scores in methods.items()
            },
        }
        for set_name, methods in report["results"].items()
    }
    return {
        "machine": describe_machine(),
        "convention": report["metadata"]["convention"],
        "sets": report["sets"],
        "max_items_per_set": max_items,
        "points": points,
    }


def _short_label(method: str, point: dict[str, Any]) -> str:
    if point.get("family") == "model":
        # sweep points are told apart by their settings, other models by their name
        if not method.startswith("sweep-"):
            return method
        return (
            f"{point['n_fft']}/{point['hop_samples']}, ctx {point['context_frames']}, "
            f"la {point['lookahead_frames']}"
        )
    if point.get("family") == "griffin_lim":
        return f"GL la {point['griffin_lim_lookahead_frames']}"
    return method


def _annotate(axis: Any, points: dict[str, dict[str, Any]], key: str) -> None:
    """Label the model and Griffin-Lim points; labels of points at one latency are spread
    vertically in the order of their scores, so that they do not overlap."""
    labelled = [
        (point["latency_ms"], point[key], _short_label(method, point))
        for method, point in points.items()
        if point.get("family") in ("model", "griffin_lim") and point[key] is not None
    ]
    for latency in sorted({round(x, 6) for x, _, _ in labelled}):
        group = sorted((y, text) for x, y, text in labelled if round(x, 6) == latency)
        for rank, (score, text) in enumerate(group):
            axis.annotate(
                text,
                (latency, score),
                textcoords="offset points",
                xytext=(7, 11 * (rank - (len(group) - 1) / 2) - 3),
                fontsize=7,
            )


def plot(document: dict[str, Any], path: Path) -> Path:
    """SDR against algorithmic latency: a row per validation set, a panel per stem. Trained
    models are labelled ``n_fft/hop, context, look-ahead``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(document["points"].items())
    figure, grid = plt.subplots(len(sets), 2, figsize=(13, 5.5 * len(sets)), squeeze=False)
    for row, (set_name, points) in zip(grid, sets, strict=True):
        row[1].sharey(row[0])
        _plot_set(row, set_name, points, document["sets"][set_name]["tracks"])
    return save_figure(figure, path, f"Quality vs latency, {measured_on_machine(document)}")


def _plot_set(axes: Any, set_name: str, points: dict[str, dict[str, Any]], tracks: int) -> None:
    """One set's two panels (vocals, accompaniment)."""
    baseline_colours = {"mixture": "tab:brown", "centre_cancel": "tab:olive"}
    for axis, stem in zip(axes, ("vocals", "accompaniment"), strict=True):
        key = f"{stem}_sdr_db"
        oracle = sorted(
            (p["latency_ms"], p[key]) for p in points.values() if p.get("family") == "oracle"
        )
        axis.plot(*zip(*oracle, strict=True), "o-", color="grey", label="oracle ratio mask")
        models = [(m, p) for m, p in points.items() if p.get("family") == "model"]
        model_label = "unsing models (n_fft/hop, context, look-ahead)"
        for method, point in models:
            if point[key] is None:
                continue
            shipped = method == "shipped"
            axis.plot(
                point["latency_ms"],
                point[key],
                "*" if shipped else "s",
                markersize=14 if shipped else 8,
                color="tab:orange" if shipped else "tab:blue",
                label="shipped default" if shipped else model_label,
            )
            if not shipped:
                model_label = None  # one legend entry for the sweep
        for method, point in points.items():
            family = point.get("family")
            if family in ("oracle", "model") or point[key] is None:
                continue
            if family == "griffin_lim":
                axis.plot(point["latency_ms"], point[key], "^", color="tab:green", markersize=8)
            elif point["latency_ms"] is None:
                axis.axhline(
                    point[key], linestyle="--", color="tab:red", label=f"{method} (offline)"
                )
            else:
                axis.plot(
                    point["latency_ms"],
                    point[key],
                    "D",
                    color=baseline_colours.get(method, "k"),
                    label=method,
                )
        axis.plot([], [], "^", color="tab:green", label="shipped + online Griffin-Lim")
        _annotate(axis, points, key)
        axis.set_xlabel("algorithmic latency (ms)")
        axis.set_title(f"{stem}, {set_name} ({tracks} items)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("BSS Eval v4 SDR (dB)")
    axes[1].legend(fontsize=8, loc="lower right")


def main(argv: list[str] | None = None) -> int:
    """``python -m unsing.benchmarks.quality_latency``."""
    parser = argparse.ArgumentParser(prog="python -m unsing.benchmarks.quality_latency")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="NAME=PATH.pt",
        help="a trained model to place (repeatable); name the shipped one 'shipped'",
    )
    parser.add_argument(
        "--griffin-lim",
        action="append",
        default=None,
        metavar="LOOKAHEAD:ITERATIONS",
        help="an online Griffin-Lim point on the shipped ONNX model (repeatable; default 3:4)",
    )
    parser.add_argument("--sets", default="mir1k")
    parser.add_argument(
        "--compute-hops",
        type=int,
        default=2000,
        help="time each model in the live engine for this many hops (0: do not)",
    )
    parser.add_argument("--max-items", type=int, default=None)
    parser.add_argument(
        "--reuse",
        type=Path,
        default=None,
        metavar="PREVIOUS.json",
        help="copy the points this run would measure unchanged from an earlier document "
        "(baselines, oracles, models with the same checkpoint hash); Griffin-Lim is re-measured",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "quality_latency.json")
    args = parser.parse_args(argv)
    griffin_lim = tuple(
        (int(lookahead), int(iterations))
        for lookahead, iterations in (text.split(":") for text in args.griffin_lim or ["3:4"])
    )
    previous = json.loads(args.reuse.read_text()) if args.reuse else None
    document = run(
        args.checkpoint,
        args.sets.split(","),
        args.max_items,
        griffin_lim,
        args.compute_hops,
        previous,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"quality_latency: wrote {args.out} and {plot(document, args.out.with_suffix('.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
