"""Oracle IRM ceiling: symmetric 1024 STFT vs asymmetric long analysis windows with the same
algorithmic latency (synthesis support M = 1024 samples, hop 256). Fast SDR, 85 clips."""

import sys

import numpy as np

sys.path.insert(0, "/work/probe")
sys.path.insert(0, "/work/main")
from fast_sdr import items

from unsing.models.metrics import sdr_db

R, M = 256, 1024


def windows(N):
    """Mauler & Martin style: analysis rises over N - M/2 (sqrt-hann half), falls over M/2;
    w_a * w_s = hann_M over the last M samples, scaled so the overlap-add sums to one."""
    if N == M:
        wa = np.sqrt(np.hanning(M + 1)[:M])
        ws = wa.copy()
        p = np.hanning(M + 1)[:M]
    else:
        rise = np.sqrt(np.hanning(2 * (N - M // 2) + 1)[: N - M // 2])
        fall = np.sqrt(np.hanning(M + 1)[:M])[M // 2 :]
        wa = np.concatenate([rise, fall])
        p = np.zeros(N)
        p[N - M :] = np.hanning(M + 1)[:M]
        ws = np.zeros(N)
        ws[N - M :] = p[N - M :] / np.maximum(wa[N - M :], 1e-8)
    scale = R / p.sum()  # sum over frames of p = p.sum()/R
    return wa, ws * scale


def frames(x, N):
    pad = np.concatenate([np.zeros(N), x, np.zeros(N)])
    starts = np.arange(0, len(pad) - N + 1, R)
    idx = starts[:, None] + np.arange(N)[None]
    return pad[idx], starts, len(pad)


def stft(x, wa):
    f, s, L = frames(x, len(wa))
    return np.fft.rfft(f * wa, axis=1), s, L


def istft(S, ws, starts, L, n):
    y = np.zeros(L)
    fr = np.fft.irfft(S, n=len(ws), axis=1) * ws
    for k, st in enumerate(starts):
        y[st : st + len(ws)] += fr[k]
    N = len(ws)
    return y[N : N + n]


def oracle(mix, v, a, N, power=1):
    wa, ws = windows(N)
    X, st, L = stft(mix, wa)
    V, _, _ = stft(v, wa)
    A, _, _ = stft(a, wa)
    vm, am = np.abs(V) ** power, np.abs(A) ** power
    m = np.divide(vm, vm + am, out=np.full_like(vm, 0.5), where=(vm + am) > 0)
    ve = istft(m * X, ws, st, L, len(mix))
    return ve, istft(X, ws, st, L, len(mix))


its = items()
for N in [1024, 2048, 4096]:
    res, recon = [], []
    for _name, mix, v, a in its:
        ve, xr = oracle(
            mix[0].astype(np.float64), v[0].astype(np.float64), a[0].astype(np.float64), N
        )
        res.append(sdr_db(v[0], ve.astype(np.float32)))
        recon.append(np.max(np.abs(xr - mix[0])))
    res = np.array(res)
    ab = np.median([r for r, (n, *_) in zip(res, its, strict=False) if n.startswith("abjones")])
    an = np.median([r for r, (n, *_) in zip(res, its, strict=False) if n.startswith("annar")])
    print(
        N,
        "median",
        round(float(np.median(res)), 3),
        "abjones",
        round(ab, 3),
        "annar",
        round(an, 3),
        "max recon err",
        max(recon),
        flush=True,
    )
