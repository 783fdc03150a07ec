"""Long-window low band, trained on MIR-1K training singers (0 dB) + everything-is-free training
tracks, scored with BSS Eval v4 (the quality report's sets) as a hybrid with the shipped model.

usage: asym_band.py N STEPS train OUT.pt      (env F_LO F_HI IN_HZ)
       asym_band.py N 0 quality BAND.pt OUT.json [sets]
       asym_band.py N 0 fast BAND.pt
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import soxr
import torch

sys.path.insert(0, "/work/main")
sys.path.insert(0, "/work/probe")
os.environ.setdefault("THREADS", "2")
import asym_probe as P  # windows, asym_stft/istft, crossover, Probe (reads argv[1] = N)

from unsing.models import spectral
from unsing.models.data import Manifest
from unsing.models.fit_long_band import eif_training_tracks, training_clips
from unsing.models.metrics import sdr_db
from unsing.models.train import load_checkpoint

RATE = 44100
SHIPPED = "/work/main/models/pretrained/unsing-default.pt"


def clip_features(v, a):
    """mono v, a tensors -> (x (frames, IN), t (frames, OUT), w (frames, OUT))."""
    mix = v + a
    X, V, A = P.asym_stft(mix), P.asym_stft(v), P.asym_stft(a)
    x = torch.log(X[: P.IN_ASYM].abs() ** 2 + 1e-8).T
    vm, am = V[: P.OUT_ASYM].abs(), A[: P.OUT_ASYM].abs()
    t = (vm / (vm + am + 1e-8)).T
    w = (X[: P.OUT_ASYM].abs() ** 2).T
    w = w / (w.mean() + 1e-12)  # each clip / channel counts alike
    return x, t, w


def training_data():
    path = P.CACHE / f"band-train-{P.N}-{P.TAG}.pt"
    if path.exists():
        return torch.load(path)
    root, manifest = Path("/work/shared/data"), Manifest()
    xs, ts, ws, cl = [], [], [], []
    sources = [(v[0], a[0]) for v, a in training_clips(root, RATE, (), manifest)]
    for v, a in eif_training_tracks(root, RATE, manifest):
        for c in range(v.shape[0]):
            sources.append((v[c], a[c]))
    for i, (v, a) in enumerate(sources):
        x, t, w = clip_features(
            torch.from_numpy(np.ascontiguousarray(v)), torch.from_numpy(np.ascontiguousarray(a))
        )
        xs.append(x)
        ts.append(t)
        ws.append(w)
        cl.append(torch.full((x.shape[0],), i, dtype=torch.int32))
    d = {"x": torch.cat(xs), "t": torch.cat(ts), "w": torch.cat(ws), "clip": torch.cat(cl)}
    torch.save(d, path)
    return d


def train(steps, out, seed=0):
    d = training_data()
    print("frames", d["x"].shape, flush=True)
    x = d["x"]
    mean, std = x.mean(0), x.std(0) + 1e-5
    x = (x - mean) / std
    t, w, clip = d["t"], d["w"], d["clip"].numpy()
    crop = 128
    starts = np.flatnonzero(clip[crop - 1 :] == clip[: len(clip) - crop + 1])
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = P.Probe(x.shape[1], t.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    t0 = time.time()
    for step in range(steps):
        idx = torch.from_numpy(rng.choice(starts, 32)[:, None] + np.arange(crop)[None])
        pred = model(x[idx].transpose(1, 2))
        loss = (w[idx].transpose(1, 2) * (pred - t[idx].transpose(1, 2)) ** 2)[..., 32:].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 1000 == 0:
            print(f"step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    torch.save(
        {
            "state": model.eval().state_dict(),
            "mean": mean,
            "std": std,
            "n": P.N,
            "f_lo": P.F_LO,
            "f_hi": P.F_HI,
            "in": P.IN_ASYM,
            "out": P.OUT_ASYM,
        },
        out,
    )


class Hybrid:
    """(mixture (C, S), rate) -> (vocals, accompaniment): shipped mask above the crossover,
    the long-window band below; accompaniment = mixture - vocals."""

    def __init__(self, band_path, checkpoint=SHIPPED):
        self.unet, _ = load_checkpoint(checkpoint)
        b = torch.load(band_path)
        self.band = P.Probe(b["in"], b["out"])
        self.band.load_state_dict(b["state"])
        self.band.eval()
        self.mean, self.std = b["mean"], b["std"]

    @torch.no_grad()
    def __call__(self, mixture, rate):
        C, S = mixture.shape
        sig = mixture.astype(np.float32)
        if rate != RATE:
            sig = soxr.resample(sig.T, rate, RATE).T
        stereo = sig if C == 2 else np.repeat(sig.mean(0, keepdims=True), 2, 0)
        st = torch.from_numpy(np.ascontiguousarray(stereo))
        Xs = spectral.stft(st, P.SPEC)
        mask = self.unet.mask(Xs.abs()[None])[0]
        n = st.shape[-1]
        vocals = []
        for c in range(2):
            hi = spectral.istft((mask[c] * (1 - P.H_SYM) * Xs[c])[None], P.SPEC, n)[0]
            Xa = P.asym_stft(st[c])
            inp = torch.log(Xa[: P.IN_ASYM].abs() ** 2 + 1e-8).T
            low = self.band(((inp - self.mean) / self.std).T[None])[0]
            m = torch.zeros(Xa.shape[0], Xa.shape[1])
            m[: P.OUT_ASYM] = low
            vocals.append(hi + P.asym_istft(m * P.H_ASYM * Xa, n))
        v = torch.stack(vocals).numpy()
        if C != 2:
            v = v.mean(0, keepdims=True)
        if rate != RATE:
            v = soxr.resample(v.T, RATE, rate).T
        out = np.zeros((C, S), np.float32)
        L = min(S, v.shape[-1])
        out[:, :L] = v[:, :L]
        return out, (mixture - out).astype(np.float32)


def fast(band_path):
    from fast_sdr import items, summary

    h = Hybrid(band_path)
    res = {}
    for name, mix, v, a in items():
        ve, ae = h(mix, RATE)
        res[name] = (sdr_db(v[0], ve[0]), sdr_db(a[0], ae[0]))
    print("fast", summary(res), flush=True)


if __name__ == "__main__":
    cmd = sys.argv[3]
    if cmd == "train":
        train(int(sys.argv[2]), sys.argv[4])
    elif cmd == "fast":
        fast(sys.argv[4])
    elif cmd == "quality":
        from unsing.models.quality import quality_report

        sets = sys.argv[6].split(",") if len(sys.argv) > 6 else None
        report = quality_report(
            {"long-band-hybrid": Hybrid(sys.argv[4])}, "/work/shared/data", sets=sets, progress=None
        )
        Path(sys.argv[5]).write_text(json.dumps(report, indent=1))
        for s, r in report["results"].items():
            m = r["long-band-hybrid"]
            print(s, "vocals", m["vocals"]["SDR"], "acc", m["accompaniment"]["SDR"], flush=True)
