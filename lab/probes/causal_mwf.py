"""Issue 31, stereo cues without training: a causal multichannel Wiener filter (MWF) after the
shipped model.

The model masks each channel on its own. A multichannel Wiener filter (Duong, Vincent and
Gribonval 2010; Nugraha, Liutkus and Vincent 2016; Open-Unmix's ``norbert``) models each source
``j`` in each bin as ``v_j(f, t) R_j(f)``: a power from the model (``v_j``, the mean of the two
channels' ``|S_j|^2``) times a 2x2 spatial covariance ``R_j`` that holds the source's
inter-channel level *and* signed phase. The estimate is
``S_j = v_j R_j (sum_k v_k R_k)^-1 X``. Offline filters fit ``R_j`` over the whole song; here it
is causal, recursive averages with time constant ``tau``:

    N_j(f, t) = a N_j(f, t-1) + S_j S_j^H,   D_j(f, t) = a D_j(f, t-1) + v_j,   R_j = N_j / D_j

(``a = exp(-hop / tau)``), from the model's current and past frames only: no added latency,
about 60 multiply-adds per bin and hop. ``tau = inf`` (whole clip, not causal) is the offline
filter, for reference. Controls: ``R = I`` (no stereo) and a gain on the vocals' power; a fixed
centred prior for the voice; oracles with the songs' true stems as powers and/or covariances.
Write-up: docs/experiments/causal-mwf.md.

Fast SDR (10 log10 |s|^2 / |s - s_hat|^2 per song, channels summed), medians over the 14
musdb18-7s validation songs; the engine's stems are cached under ``/work/probe/mwf``.

    python -m lab.probes.causal_mwf [--out benchmarks/results/experiments/causal-mwf.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from lab.probes.scores import median_summary, report
from lab.probes.stereo_cue import DATA, HOP, RATE, _istft, _stft
from unsing.config import load_config
from unsing.models.data import load_musdb18_7s
from unsing.models.metrics import sdr_db
from unsing.realtime.engine import SeparationEngine
from unsing.realtime.onnx_model import OnnxMaskModel
from unsing.realtime.render import render_stems

CACHE = Path("/work/probe/mwf")
INF = float("inf")
#: (name, powers from, spatial covariances from, tau_s, exponent[, vocal_diffuse]): "model" is
#: the engine's stems, "true" the songs' own stems (an oracle).
VARIANTS = (
    ("model, R=I, vocal power x1.3", "model", "model", None, 1.0, None, 1.3),
    ("model, R=I, vocal power x1.9", "model", "model", None, 1.0, None, 1.9),
    ("model, centred vocal R (d=0.1), accompaniment R=I", "model", "model", None, 1.0, 0.1),
    ("model, centred vocal R (d=0.3), accompaniment R=I", "model", "model", None, 1.0, 0.3),
    ("model, centred vocal R (d=0.1), accompaniment tau=4 s", "model", "model", 4.0, 1.0, 0.1),
    ("model, centred vocal R (d=0.3), accompaniment tau=4 s", "model", "model", 4.0, 1.0, 0.3),
    ("model, centred vocal R (d=0.6), accompaniment tau=4 s", "model", "model", 4.0, 1.0, 0.6),
    ("model, R=I", "model", "model", None, 1.0),
    ("model, tau=0.25 s", "model", "model", 0.25, 1.0),
    ("model, tau=1 s", "model", "model", 1.0, 1.0),
    ("model, tau=4 s", "model", "model", 4.0, 1.0),
    ("model, whole clip", "model", "model", INF, 1.0),
    ("model, power Wiener, R=I", "model", "model", None, 2.0),
    ("model, power Wiener, tau=1 s", "model", "model", 1.0, 2.0),
    ("model powers, true R (whole clip)", "model", "true", INF, 1.0),
    ("true powers, R=I", "true", "true", None, 2.0),
    ("true powers, true R (tau=1 s)", "true", "true", 1.0, 2.0),
    ("true powers, true R (whole clip)", "true", "true", INF, 2.0),
)
EPS = 1e-10


def _outer(spectrum: np.ndarray) -> np.ndarray:
    """``(2, F, T)`` -> ``(F, T, 2, 2)``: ``s s^H`` per bin and frame."""
    s = np.moveaxis(spectrum, 0, -1)
    return s[..., :, None] * np.conj(s[..., None, :])


def spatial_covariances(source: np.ndarray, power: np.ndarray, tau_s: float) -> np.ndarray:
    """``(F, T, 2, 2)``: the recursive ``R_j`` of ``source`` ``(2, F, T)`` with powers ``(F, T)``;
    ``tau_s = inf`` gives the whole clip's (one ``R_j`` per bin, repeated over frames)."""
    outer = _outer(source)
    if np.isinf(tau_s):
        r = outer.sum(1) / np.maximum(power.sum(1), EPS)[:, None, None]
        return np.repeat(r[:, None], power.shape[1], axis=1)
    a = np.exp(-HOP / RATE / tau_s)
    numerator = np.zeros((outer.shape[0], 2, 2), complex)
    numerator[:, 0, 0] = numerator[:, 1, 1] = EPS
    denominator = np.full(outer.shape[0], EPS)
    result = np.empty_like(outer)
    for t in range(outer.shape[1]):
        numerator = a * numerator + outer[:, t]
        denominator = a * denominator + power[:, t]
        result[:, t] = numerator / denominator[:, None, None]
    return result


def wiener(
    mixture: np.ndarray,
    sources: list[np.ndarray],
    tau_s: float | None,
    exponent: float = 2.0,
    spatial_sources: list[np.ndarray] | None = None,
    vocal_diffuse: float | None = None,
    vocal_weight: float = 1.0,
) -> list[np.ndarray]:
    """The MWF estimates ``(2, F, T)`` from ``sources`` (``(2, F, T)`` each): powers
    ``(mean |S_j|^2) ** (exponent / 2)``, spatial covariances of ``spatial_sources`` (default:
    ``sources``) with time constant ``tau_s``; ``tau_s = None`` sets every ``R_j = I``.
    ``vocal_diffuse = d`` fixes the vocals' (the first source's) ``R`` to the centred prior
    ``(1 - d) [[1, 1], [1, 1]] + d I``; ``vocal_weight`` scales the vocals' power (a
    calibration control: the prior raises the vocals' power in the centre by ``2 - d``)."""
    spatial_sources = sources if spatial_sources is None else spatial_sources
    weighted = []
    for index, (source, spatial) in enumerate(zip(sources, spatial_sources, strict=True)):
        weight = np.mean(np.abs(source) ** 2, axis=0) ** (exponent / 2)
        if index == 0:
            weight = vocal_weight * weight
        if index == 0 and vocal_diffuse is not None:
            covariance = (1 - vocal_diffuse) * np.ones((2, 2)) + vocal_diffuse * np.eye(2)
        elif tau_s is None:
            covariance = np.eye(2)
        else:
            covariance = spatial_covariances(spatial, np.mean(np.abs(spatial) ** 2, 0), tau_s)
        weighted.append(weight[..., None, None] * covariance)
    total = sum(weighted) + EPS * np.eye(2)
    inverse = np.linalg.inv(total)
    x = np.moveaxis(mixture, 0, -1)[..., None]  # (F, T, 2, 1)
    return [np.moveaxis((w @ inverse @ x)[..., 0], -1, 0) for w in weighted]


def _stems(item, config, model) -> tuple[np.ndarray, np.ndarray]:
    path = CACHE / f"{item.name}.npz"
    if path.exists():
        cached = np.load(path)
        return cached["vocals"], cached["accompaniment"]
    engine = SeparationEngine(config, model, stems=True)
    vocals, accompaniment = render_stems(engine, item.vocals + item.accompaniment)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, vocals=vocals, accompaniment=accompaniment)
    return vocals, accompaniment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.probes.causal_mwf")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    config = load_config()
    model = OnnxMaskModel(config)
    names = ["engine"] + [v[0] for v in VARIANTS]
    scores = {n: {"vocals": [], "accompaniment": []} for n in names}
    for item in load_musdb18_7s(DATA, RATE):
        mixture = item.vocals + item.accompaniment
        samples = mixture.shape[1]
        vocals, accompaniment = _stems(item, config, model)
        scores["engine"]["vocals"].append(sdr_db(item.vocals, vocals))
        scores["engine"]["accompaniment"].append(sdr_db(item.accompaniment, accompaniment))
        spectra = {
            "model": [_stft(vocals), _stft(accompaniment)],
            "true": [_stft(item.vocals), _stft(item.accompaniment)],
        }
        mixture_spectrum = _stft(mixture)
        for name, powers, spatial, tau, exponent, *diffuse in VARIANTS:
            v_hat, a_hat = wiener(
                mixture_spectrum, spectra[powers], tau, exponent, spectra[spatial], *diffuse
            )
            scores[name]["vocals"].append(sdr_db(item.vocals, _istft(v_hat, samples)))
            scores[name]["accompaniment"].append(sdr_db(item.accompaniment, _istft(a_hat, samples)))
        print(item.name, [round(scores[n]["vocals"][-1], 2) for n in names], flush=True)
    report(median_summary(scores, "engine"), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
