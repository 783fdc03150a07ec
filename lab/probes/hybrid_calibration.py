"""Probe: would a logit-domain calibration of a long-band model's two output masks (the
U-Net's, applied above the crossover, and the band's, below it) raise SDR on *training*
material (the calibration singers and everything-is-free training tracks, as
``unsing.models.calibrate`` uses)? The band's input keeps the uncalibrated U-Net mask.

Usage: python lab/probes/hybrid_calibration.py runs/u2-psm/last.pt
"""

from __future__ import annotations

import itertools
import sys
import time

import numpy as np
import torch

from unsing.long_band import LongBandLayout
from unsing.models import spectral
from unsing.models.calibrate import _logit, training_items
from unsing.models.metrics import sdr_db
from unsing.models.quality import default_data_root
from unsing.models.train import load_checkpoint
from unsing.stft import StftSpec


def main(path: str) -> None:
    torch.set_num_threads(2)
    model, state = load_checkpoint(path)
    model.eval()
    contract = state["contract"]
    spec = StftSpec(int(contract["n_fft"]), int(contract["hop_samples"]), str(contract["window"]))
    layout = LongBandLayout.from_architecture(model.config.as_dict(), spec)
    singers = ("ariel", "davidson", "jmzen", "titon")
    items = training_items(default_data_root(), 44100, 120, 30.0, singers)
    print(f"{len(items)} items", flush=True)
    w_short = torch.from_numpy(layout.short_weights()).float()[:, None]
    w_long = torch.from_numpy(layout.long_weights()).float()[:, None]
    prepared = []
    with torch.no_grad():
        for item in items:
            channels = model.config.audio_channels
            mixture = np.repeat(item.mixture, channels // item.mixture.shape[0], axis=0)
            signal = torch.from_numpy(mixture).float()[None]
            spectrum = spectral.stft(signal, spec)
            long_spectrum = spectral.stft(signal, layout.spec)
            magnitude = torch.cat(
                [spectrum.abs(), long_spectrum[..., : layout.input_bins, :].abs()], dim=-2
            )
            masks = model.mask(magnitude)
            short_logit = _logit(masks[..., : spec.bins, :])
            long_logit = _logit(masks[..., spec.bins :, :])
            prepared.append((item, signal, spectrum, long_spectrum, short_logit, long_logit))
    print("masks done", flush=True)

    def score(a_s: float, b_s: float, a_l: float, b_l: float) -> tuple[float, dict]:
        per_set: dict[str, list[float]] = {}
        detail: dict[str, dict[str, list[float]]] = {}
        with torch.no_grad():
            for item, signal, spectrum, long_spectrum, short_logit, long_logit in prepared:
                n = signal.shape[-1]
                m_s = torch.sigmoid(a_s * short_logit + b_s) * w_short
                m_l = torch.sigmoid(a_l * long_logit + b_l) * w_long
                vocals = spectral.istft(spectrum * m_s, spec, n)
                long_part = torch.zeros_like(long_spectrum)
                long_part[..., : layout.output_bins, :] = (
                    long_spectrum[..., : layout.output_bins, :] * m_l
                )
                vocals = (vocals + spectral.istft(long_part, layout.spec, n))[0].numpy()
                if item.mixture.shape[0] != vocals.shape[0]:
                    vocals = vocals.mean(axis=0, keepdims=True)
                sv = sdr_db(item.vocals, vocals)
                sa = sdr_db(item.accompaniment, item.mixture - vocals)
                per_set.setdefault(item.set_name, []).append(0.5 * (sv + sa))
                d = detail.setdefault(item.set_name, {"v": [], "a": []})
                d["v"].append(sv)
                d["a"].append(sa)
        objective = float(np.mean([np.median(v) for v in per_set.values()]))
        summary = {
            s: (round(float(np.median(d["v"])), 3), round(float(np.median(d["a"])), 3))
            for s, d in detail.items()
        }
        return objective, summary

    started = time.time()
    base, summary = score(1.0, 0.0, 1.0, 0.0)
    print(f"identity: {base:.3f} {summary} ({time.time() - started:.0f} s)", flush=True)
    results = []
    for a_s, b_s in itertools.product((0.8, 1.0, 1.2), (-0.25, 0.0, 0.25, 0.5)):
        value, summary = score(a_s, b_s, 1.0, 0.0)
        results.append((value, "short", a_s, b_s, summary))
        print(f"short {a_s} {b_s}: {value:.3f} {summary}", flush=True)
    for a_l, b_l in itertools.product((0.8, 1.0, 1.2), (-0.25, 0.0, 0.25, 0.5)):
        value, summary = score(1.0, 0.0, a_l, b_l)
        results.append((value, "long", a_l, b_l, summary))
        print(f"long {a_l} {b_l}: {value:.3f} {summary}", flush=True)
    print("best:", max(results, key=lambda r: r[0]))


if __name__ == "__main__":
    main(sys.argv[1])
