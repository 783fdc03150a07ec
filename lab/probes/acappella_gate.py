"""Issue 31's a cappella bar: does a causal gate on the karaoke track take the voice out of a
cappella lines without costing the songs?

On an a cappella line the karaoke track (the accompaniment estimate) should be silent; the
shipped model leaves the voice 3-14 dB below the input there (``single_source``). The gate is
a downward expander on the accompaniment estimate, driven by the estimate's own share of the
engine's output: per hop, ``share_db = 10 log10(P(a) / P(v + a))`` over one-pole smoothed
powers (``v + a`` is the mixture as the engine resynthesises it, so the gate needs no input
the engine does not already hold, and adds no latency). Below ``threshold_db`` the gain falls
``slope`` dB per dB, down to ``floor_db``, and is ramped linearly across each hop (no steps).
The removed part goes to the vocal estimate, so both stems still sum to the mixture.

For each validation set's items it scores, ungated and for each gate:
* a cappella input (the vocals stem alone): the voice left in the karaoke track,
  ``removed_level_db`` as ``unsing.models.single_source`` measures it;
* instrumental input (the accompaniment stem alone): ``kept_sdr_db`` of the karaoke track;
* the mixture: waveform SDR of the accompaniment (fast SDR; the vocals' error is the same).

``python -m lab.probes.acappella_gate --checkpoint models/pretrained/unsing-default.pt --out X``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from unsing.models.metrics import sdr_db
from unsing.models.quality import SAMPLE_RATE_HZ, VALIDATION_SETS, default_data_root
from unsing.models.separator import CheckpointSeparator
from unsing.models.single_source import single_source_scores

HOP_SAMPLES = 256
#: (threshold_db, slope, floor_db, smoothing_ms)
GATES: list[tuple[float, float, float, float]] = [
    (-10.0, 1.0, -30.0, 50.0),
    (-6.0, 1.0, -30.0, 50.0),
    (-6.0, 2.0, -30.0, 50.0),
    (-4.0, 2.0, -30.0, 50.0),
    (-3.0, 3.0, -40.0, 50.0),
    (-6.0, 2.0, -30.0, 200.0),
    (-6.0, 2.0, -30.0, 500.0),
    (-5.0, 3.0, -30.0, 200.0),
    (-6.0, 3.0, -40.0, 200.0),
]


def gate_gains(
    vocals: np.ndarray, accompaniment: np.ndarray, gate: tuple[float, float, float, float]
) -> np.ndarray:
    """Per-sample gain ``(samples,)`` of the karaoke track; inputs ``(channels, samples)``."""
    threshold_db, slope, floor_db, smoothing_ms = gate
    samples = accompaniment.shape[-1]
    hops = -(-samples // HOP_SAMPLES)
    pad = hops * HOP_SAMPLES - samples
    mix = np.pad(vocals + accompaniment, ((0, 0), (0, pad)))
    acc = np.pad(accompaniment, ((0, 0), (0, pad)))
    power_mix = np.square(mix).reshape(mix.shape[0], hops, HOP_SAMPLES).mean(axis=(0, 2))
    power_acc = np.square(acc).reshape(acc.shape[0], hops, HOP_SAMPLES).mean(axis=(0, 2))
    alpha = float(np.exp(-HOP_SAMPLES / (SAMPLE_RATE_HZ * smoothing_ms / 1000.0)))
    smooth_mix, smooth_acc = lfilter([1 - alpha], [1, -alpha], [power_mix, power_acc])  # causal
    share_db = 10 * np.log10((smooth_acc + 1e-12) / (smooth_mix + 1e-12))
    gains_db = np.clip(slope * (share_db - threshold_db), floor_db, 0.0)
    gains = 10 ** (gains_db / 20)
    start = np.concatenate([[1.0], gains[:-1]])  # each hop ramps from the last hop's gain
    ramp = (np.arange(HOP_SAMPLES) + 1) / HOP_SAMPLES
    per_sample = (start[:, None] + (gains - start)[:, None] * ramp[None, :]).reshape(-1)
    return per_sample[:samples]


def gated(
    vocals: np.ndarray, accompaniment: np.ndarray, gate: tuple[float, float, float, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The stems after the gate (the removed part moves to the vocals)."""
    if gate is None:
        return vocals, accompaniment
    gain = gate_gains(vocals, accompaniment, gate)
    kept = accompaniment * gain
    return vocals + (accompaniment - kept), kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.probes.acappella_gate")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--sets", default="mir1k,eif-sodium,musdb18-sample,ikala,musdb18-7s")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    separator = CheckpointSeparator(args.checkpoint)
    root = default_data_root()
    names = ["ungated"] + [f"thr{t:g}_slope{s:g}_floor{f:g}_{m:g}ms" for t, s, f, m in GATES]
    gates = [None, *GATES]
    results: dict = {}
    for set_name in args.sets.split(","):
        scores: dict[str, dict[str, list[float]]] = {
            n: {"a_cappella_leak_db": [], "instrumental_kept_sdr_db": [], "mixture_sdr_db": []}
            for n in names
        }
        for item in VALIDATION_SETS[set_name].load(root, None):
            on_vocals = separator(item.vocals, SAMPLE_RATE_HZ)
            on_acc = separator(item.accompaniment, SAMPLE_RATE_HZ)
            on_mix = separator(item.mixture, SAMPLE_RATE_HZ)
            for name, gate in zip(names, gates, strict=True):
                v, a = gated(*on_vocals, gate)
                leak = single_source_scores(item.vocals, v, a)["removed_level_db"]
                v, a = gated(*on_acc, gate)
                kept = single_source_scores(item.accompaniment, a, v)["kept_sdr_db"]
                v, a = gated(*on_mix, gate)
                mix_sdr = sdr_db(item.accompaniment, a)
                scores[name]["a_cappella_leak_db"].append(leak)
                scores[name]["instrumental_kept_sdr_db"].append(kept)
                scores[name]["mixture_sdr_db"].append(mix_sdr)
        base = scores["ungated"]
        results[set_name] = {
            name: {
                **{k: round(float(np.median(v)), 2) for k, v in s.items()},
                "mixture_change_per_item_db": round(
                    float(
                        np.median(np.array(s["mixture_sdr_db"]) - np.array(base["mixture_sdr_db"]))
                    ),
                    3,
                ),
                "items": len(s["mixture_sdr_db"]),
            }
            for name, s in scores.items()
        }
        print(set_name, json.dumps(results[set_name]), flush=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "checkpoint": args.checkpoint,
                "gates": dict(zip(names[1:], GATES, strict=True)),
                "results": results,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
