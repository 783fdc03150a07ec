"""How often does the a cappella gate act on songs? (issue 31; the gate: realtime/acappella_gate.py)

On each held-out set's mixtures (songs: the voice with its band), the engine runs with the gate
on, hop by hop, and the gate's gain is recorded per hop. Per set: the share of the songs' time
the gate is below -1, -3 and -10 dB, and its lowest gain. A gate that acts inside songs dips the
karaoke track wherever the voice is loud over a soft band (pumping); BSS Eval of the same songs
is the quality report's (``--engine``).

``python -m lab.probes.gate_activity [--set engine.a_cappella_gate_threshold_db=-4] --out X``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from unsing.config import load_config
from unsing.models.quality import SAMPLE_RATE_HZ, VALIDATION_SETS, default_data_root
from unsing.realtime.engine import SeparationEngine
from unsing.realtime.onnx_model import OnnxMaskModel

LEVELS_DB = (-1.0, -3.0, -10.0)


def gate_gains_db(engine: SeparationEngine, mixture: np.ndarray) -> np.ndarray:
    """The gate's gain in dB on each hop of ``mixture`` ``(channels, samples)``."""
    engine.reset()
    hop = engine.hop_samples
    signal = np.ascontiguousarray(mixture.T, np.float32)
    out = np.zeros((hop, engine.output_channels), np.float32)
    gains = []
    for start in range(0, signal.shape[0] - hop + 1, hop):
        engine.process(signal[start : start + hop], out)
        gains.append(engine.gate_gain)
    return 20 * np.log10(np.array(gains))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.probes.gate_activity")
    parser.add_argument("--sets", default="mir1k,eif-sodium,musdb18-sample,ikala,musdb18-7s")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    config = load_config(overrides=["engine.a_cappella_gate=true", *args.overrides])
    assert config.contract.sample_rate_hz == SAMPLE_RATE_HZ
    engine = SeparationEngine(config, OnnxMaskModel(config), stems=True)
    results = {}
    for set_name in args.sets.split(","):
        per_item = []
        for item in VALIDATION_SETS[set_name].load(default_data_root(), None):
            mixture = item.mixture
            if mixture.shape[0] != config.contract.channels:
                mixture = np.repeat(mixture.mean(axis=0, keepdims=True), 2, axis=0)
            per_item.append(gate_gains_db(engine, mixture))
        gains = np.concatenate(per_item)
        results[set_name] = {
            "items": len(per_item),
            "hops": int(gains.size),
            **{
                f"share_below_{-level:g}_db": round(float(np.mean(gains < level)), 4)
                for level in LEVELS_DB
            },
            "items_ever_below_3_db": int(sum(np.any(g < -3.0) for g in per_item)),
            "lowest_db": round(float(gains.min()), 2),
        }
        print(set_name, json.dumps(results[set_name]), flush=True)
    Path(args.out).write_text(
        json.dumps({"overrides": args.overrides, "results": results}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
