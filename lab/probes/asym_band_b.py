"""Variant (b): the long band also reads the shipped U-Net's mask (logit), interpolated at the
long bins of its output. usage like asym_band.py (N STEPS train OUT / N 0 fast|quality BAND ...)"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import soxr
import torch

sys.path.insert(0, "/work/main")
sys.path.insert(0, "/work/probe")
import asym_band as B
import asym_probe as P

from unsing.models import spectral
from unsing.models.data import Manifest
from unsing.models.fit_long_band import eif_training_tracks, training_clips
from unsing.models.metrics import sdr_db
from unsing.models.train import load_checkpoint

RATE = 44100
UNET, _ = load_checkpoint(B.SHIPPED)
# linear interpolation matrix: long bin k at short position k * 1024 / N
pos = np.arange(P.OUT_ASYM) * 1024 / P.N
lo = np.floor(pos).astype(int)
frac = pos - lo
INTERP = np.zeros((P.OUT_ASYM, 513), np.float32)
INTERP[np.arange(P.OUT_ASYM), lo] = 1 - frac
INTERP[np.arange(P.OUT_ASYM), np.minimum(lo + 1, 512)] += frac
INTERP = torch.from_numpy(INTERP)


def unet_logits(stereo):  # (2, S) -> (2, OUT, frames) logit of the U-Net mask at long bins
    with torch.no_grad():
        X = spectral.stft(stereo, P.SPEC)
        m = UNET.mask(X.abs()[None])[0].clamp(1e-4, 1 - 1e-4)
        m = torch.einsum("ks,csf->ckf", INTERP, m)
        return torch.log(m / (1 - m))


def training_data():
    path = P.CACHE / f"bandb-train-{P.N}-{P.TAG}.pt"
    if path.exists():
        return torch.load(path)
    root, manifest = Path("/work/shared/data"), Manifest()
    xs, us, ts, ws, cl = [], [], [], [], []
    items = []
    for v, a in training_clips(root, RATE, (), manifest):
        items.append((torch.from_numpy(np.repeat(v, 2, 0)), torch.from_numpy(np.repeat(a, 2, 0))))
    for v, a in eif_training_tracks(root, RATE, manifest):
        items.append(
            (torch.from_numpy(np.ascontiguousarray(v)), torch.from_numpy(np.ascontiguousarray(a)))
        )
    i = 0
    for v, a in items:
        u = unet_logits(v + a)
        channels = 1 if torch.equal(v[0], v[1]) and torch.equal(a[0], a[1]) else 2
        for c in range(channels):
            x, t, w = B.clip_features(v[c], a[c])
            xs.append(x)
            us.append(u[c].T)
            ts.append(t)
            ws.append(w)
            cl.append(torch.full((x.shape[0],), i, dtype=torch.int32))
            i += 1
    d = {
        "x": torch.cat(xs),
        "u": torch.cat(us),
        "t": torch.cat(ts),
        "w": torch.cat(ws),
        "clip": torch.cat(cl),
    }
    torch.save(d, path)
    return d


def train(steps, out, seed=0):
    d = training_data()
    x = d["x"]
    mean, std = x.mean(0), x.std(0) + 1e-5
    x = torch.cat([(x - mean) / std, d["u"] / 4], 1)
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
            "in": x.shape[1],
            "out": t.shape[1],
        },
        out,
    )


class HybridB(B.Hybrid):
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
        u = torch.log(
            (lambda m: m / (1 - m))(torch.einsum("ks,csf->ckf", INTERP, mask.clamp(1e-4, 1 - 1e-4)))
        )
        n = st.shape[-1]
        vocals = []
        for c in range(2):
            hi = spectral.istft((mask[c] * (1 - P.H_SYM) * Xs[c])[None], P.SPEC, n)[0]
            Xa = P.asym_stft(st[c])
            inp = torch.log(Xa[: P.IN_ASYM].abs() ** 2 + 1e-8).T
            inp = torch.cat([(inp - self.mean) / self.std, u[c].T / 4], 1)
            low = self.band(inp.T[None])[0]
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


if __name__ == "__main__":
    cmd = sys.argv[3]
    if cmd == "train":
        train(int(sys.argv[2]), sys.argv[4])
    elif cmd == "fast":
        from fast_sdr import items, summary

        h = HybridB(sys.argv[4])
        res = {}
        for name, mix, v, a in items():
            ve, ae = h(mix, RATE)
            res[name] = (sdr_db(v[0], ve[0]), sdr_db(a[0], ae[0]))
        print("fast", summary(res), flush=True)
    elif cmd == "quality":
        from unsing.models.quality import quality_report

        report = quality_report({"long-band-b": HybridB(sys.argv[4])}, "/work/shared/data")
        Path(sys.argv[5]).write_text(json.dumps(report, indent=1))
        for s, r in report["results"].items():
            m = r["long-band-b"]
            print(s, "vocals", m["vocals"]["SDR"], "acc", m["accompaniment"]["SDR"], flush=True)
