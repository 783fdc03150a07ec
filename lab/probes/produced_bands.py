"""Issue 31: where, in frequency, does the shipped engine lose against the oracle on produced
songs? The engine's vocal estimate with the oracle ratio mask ``|V| / (|V| + |A|)`` (per
channel) put in one band at a time, on the 14 musdb18-7s validation songs; the accompaniment is
the mixture minus the vocals. The gain of each band says how much of the loss lies there, as
``lab/oracle_bands.py`` did for MIR-1K (docs/experiments/sdr-sweep-v1.md). Also each band's
share of the true vocals' and accompaniment's energy. Uses the engine stems cached by
``lab.probes.causal_mwf``.

    python -m lab.probes.produced_bands [--out benchmarks/results/experiments/produced-bands.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from lab.probes.causal_mwf import _stems
from lab.probes.scores import median_summary, report
from lab.probes.stereo_cue import DATA, N_FFT, RATE, _istft, _stft
from unsing.config import load_config
from unsing.models.data import load_musdb18_7s
from unsing.models.metrics import sdr_db
from unsing.realtime.onnx_model import OnnxMaskModel

BANDS_HZ = (
    (0, 300),
    (300, 450),
    (450, 600),
    (600, 750),
    (750, 1000),
    (300, 1000),
    (1000, 2000),
    (300, 2000),
    (2000, 4000),
    (4000, 8000),
    (8000, 22051),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.probes.produced_bands")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    config = load_config()
    model = OnnxMaskModel(config)
    names = ["engine", "oracle"] + [f"oracle {lo}-{hi} Hz" for lo, hi in BANDS_HZ]
    scores = {n: {"vocals": [], "accompaniment": []} for n in names}
    energy = {f"{lo}-{hi} Hz": {"vocals": [], "accompaniment": []} for lo, hi in BANDS_HZ}
    frequencies_hz = np.arange(N_FFT // 2 + 1) * RATE / N_FFT
    for item in load_musdb18_7s(DATA, RATE):
        mixture = item.vocals + item.accompaniment
        samples = mixture.shape[1]
        vocals, _ = _stems(item, config, model)
        x, v_true, a_true = _stft(mixture), _stft(item.vocals), _stft(item.accompaniment)
        oracle = np.abs(v_true) / np.maximum(np.abs(v_true) + np.abs(a_true), 1e-12) * x
        engine = _stft(vocals)
        estimates = {"engine": engine, "oracle": oracle}
        for lo, hi in BANDS_HZ:
            band = (frequencies_hz >= lo) & (frequencies_hz < hi)
            mixed = engine.copy()
            mixed[:, band] = oracle[:, band]
            estimates[f"oracle {lo}-{hi} Hz"] = mixed
            for stem, spectrum in (("vocals", v_true), ("accompaniment", a_true)):
                share = np.sum(np.abs(spectrum[:, band]) ** 2) / np.sum(np.abs(spectrum) ** 2)
                energy[f"{lo}-{hi} Hz"][stem].append(float(share))
        for name, spectrum in estimates.items():
            v_hat = _istft(spectrum, samples)
            scores[name]["vocals"].append(sdr_db(item.vocals, v_hat))
            scores[name]["accompaniment"].append(sdr_db(item.accompaniment, mixture - v_hat))
        print(item.name, [round(scores[n]["vocals"][-1], 2) for n in names], flush=True)
    result = median_summary(scores, "engine")
    result["energy_share_median"] = {
        band: {stem: round(float(np.median(v)), 4) for stem, v in shares.items()}
        for band, shares in energy.items()
    }
    report(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
