"""``python -m unsing.benchmarks``: the whole suite, or some parts of it, then the report.

Parts: latency (JACK round trip vs formula), midi (CC-to-audio delay), compute (per-hop cost,
offline speed vs Spleeter), stability (xruns: pass-through vs engine, with and without load),
stop_cycles (the live engine started and stopped 200 times: clean exits vs crashes or hangs),
quality (BSS Eval report), band_quality (SDR per frequency band on the full-band tracks: the
8-22 kHz sibilants and cymbals), single_source (held-out instrumentals and a cappella vocals
alone: what comes through untouched, what leaks), quality_latency (SDR against latency: oracle
mask over window lengths, the causal models, online Griffin-Lim, baselines), train_speed
(seconds per training step in float32 and bfloat16) and export_options (the streaming graph
optimised and quantised to int8: per-hop cost and SDR change against fp32); the last six need
the train and bench extras. Each writes its JSON under benchmarks/results/; the report then
draws the plots and regenerates the tables of docs/quality.md and docs/performance.md and the
README's summary.
"""

from __future__ import annotations

import argparse
import sys

from unsing import PROJECT_ROOT

PARTS = (
    "latency",
    "midi",
    "compute",
    "stability",
    "model_thread",
    "stop_cycles",
    "quality",
    "band_quality",
    "single_source",
    "quality_latency",
    "train_speed",
    "export_options",
)


def _checkpoints(lookahead: bool) -> list[str]:
    """``--checkpoint NAME=PATH`` arguments: the default model, the U-Net alone (the previous
    default) and, with ``lookahead``, the 4-frame look-ahead model (both in lab/models/)."""
    models = {
        "unsing-causal": "models/pretrained/unsing-default.pt",
        "unsing-unet-only": "lab/models/unet-only/unsing-unet-only.pt",
    }
    if lookahead:
        models["unsing-lookahead4"] = "lab/models/lookahead4/unsing-lookahead4.pt"
    return [f"--checkpoint={name}={PROJECT_ROOT / path}" for name, path in models.items()]


#: Score reports on the held-out material: part (also its module in unsing.models) -> arguments.
#: ``unsing-engine``: the engine as it ships (config.yaml: the ONNX model and the a cappella gate).
SCORE_REPORTS: dict[str, list[str]] = {
    "quality": ["--torch-threads", "2", *_checkpoints(lookahead=True), "--engine=unsing-engine"],
    "band_quality": [
        "--methods",
        "mixture,centre_cancel,oracle_irm,spleeter",
        *_checkpoints(lookahead=False),
    ],
    "single_source": [
        "--methods",
        "mixture,centre_cancel,spleeter",
        *_checkpoints(lookahead=False),
        "--engine=unsing-engine",
    ],
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts in order, then the report."""
    parser = argparse.ArgumentParser(prog="python -m unsing.benchmarks")
    parser.add_argument(
        "parts", nargs="*", choices=(*PARTS, []), help=f"default: all ({', '.join(PARTS)})"
    )
    parser.add_argument(
        "--quick", action="store_true", help="short runs (smoke test): 10 s stability, 300 hops"
    )
    args = parser.parse_args(argv)
    parts = args.parts or list(PARTS)
    status = 0
    for part in parts:
        print(f"benchmarks: {part}", file=sys.stderr, flush=True)
        if part == "latency":
            from unsing.benchmarks import latency

            status |= latency.main([])
        elif part == "midi":
            from unsing.benchmarks import midi_latency

            status |= midi_latency.main([])
        elif part == "compute":
            from unsing.benchmarks import compute

            status |= compute.main(["--hops", "300"] if args.quick else [])
        elif part == "stability":
            from unsing.benchmarks import stability

            quick = ["--seconds", "10", "--load-seconds", "10"]
            status |= stability.main(quick if args.quick else [])
        elif part == "model_thread":
            from unsing.benchmarks import model_thread

            status |= model_thread.main(["--max-items", "2" if args.quick else "14"])
        elif part == "stop_cycles":
            from unsing.benchmarks import stop_cycles

            status |= stop_cycles.main(["--cycles", "10"] if args.quick else [])
        elif part == "train_speed":
            from unsing.benchmarks import train_speed

            status |= train_speed.main(["--steps", "2"] if args.quick else [])
        elif part == "export_options":
            from unsing.benchmarks import export_options

            result = ["--out", str(PROJECT_ROOT / "benchmarks/results/export_options.json")]
            quick = ["--hops", "300", "--mir1k-clips", "2"] if args.quick else []
            status |= export_options.main([*result, *quick])
        elif part in SCORE_REPORTS:
            import importlib

            report_main = importlib.import_module(f"unsing.models.{part}").main
            out = PROJECT_ROOT / f"benchmarks/results/{part}.json"
            doc = ["--doc", str(PROJECT_ROOT / "docs/quality.md")]
            status |= report_main(["--out", str(out), *SCORE_REPORTS[part], *doc])
        elif part == "quality_latency":
            from unsing.benchmarks import quality_latency

            shipped = PROJECT_ROOT / "models/pretrained/unsing-default.pt"
            quick = ["--max-items", "4"] if args.quick else []
            # the sweep's models, where scripts/train_sweep.sh has trained them
            trained = [
                f"--checkpoint={path.parent.name}={path}"
                for path in sorted((PROJECT_ROOT / "runs").glob("sweep-*/last.pt"))
            ]
            ahead = PROJECT_ROOT / "lab/models/lookahead4/unsing-lookahead4.pt"
            points = [f"--checkpoint=shipped={shipped}", f"--checkpoint=lookahead4={ahead}"]
            points += [*trained, "--griffin-lim=0:4", "--griffin-lim=3:4"]
            # MIR-1K is mono; the stereo MUSDB18 sample also scores centre-channel cancellation
            sets = ["--sets", "mir1k,musdb18-sample"]
            status |= quality_latency.main([*points, *sets, *quick])
    from unsing.benchmarks import report

    docs = ["--doc", str(PROJECT_ROOT / "docs/performance.md")]
    status |= report.main([*docs, "--summary", str(PROJECT_ROOT / "README.md")])
    return status


if __name__ == "__main__":
    sys.exit(main())
