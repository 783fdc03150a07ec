"""Per-hop time of the capacity-v1 models (docs/experiments/capacity-v1.md).

Each run's last checkpoint, exported with ``unsing export CKPT -o DIR/NAME.onnx``, is timed by the
compute benchmark's ``per_hop`` (model alone and whole engine, 3000 hops), the three in turn,
twice. Usage: ``taskset -c 1 python lab/probes/capacity_compute.py DIR OUT.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from unsing.benchmarks.compute import per_hop
from unsing.benchmarks.machine import describe_machine
from unsing.config import load_config

MODELS = ("cue-control", "deep", "wide")


def main(folder: Path, out: Path) -> None:
    runs: dict[str, list[dict]] = {}
    for round_index in range(2):
        for name in MODELS:
            result = per_hop(load_config(None), folder / f"{name}.onnx", 3000)
            times = {part: result[part]["ms"] for part in ("model", "engine")}
            runs.setdefault(name, []).append(times | {"hop_period_ms": result["hop_period_ms"]})
            print(name, round_index, {k: (v["p50"], v["p99"]) for k, v in times.items()})
    out.write_text(json.dumps({"machine": describe_machine(), "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
