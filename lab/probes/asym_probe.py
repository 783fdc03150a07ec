"""Probe: does a low band separated in an asymmetric long-window STFT (same 1024-sample
algorithmic latency) beat the same estimator in the project's 1024 STFT?

Output = shipped model's mask above a crossover (600-750 Hz) in the 1024 STFT
       + a low-band estimate below it, in either the 1024 STFT ("sym") or an asymmetric
         STFT with an N-sample analysis window and 1024-sample synthesis support ("asym").
The estimator: a causal TCN (probe_lowres's), inputs log power of the domain's bins up to
2.7 kHz, trained on MIR-1K training singers at 0 dB with power-weighted squared mask error.
usage: asym_probe.py N STEPS
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, "/work/main")
sys.path.insert(0, "/work/probe")
from fast_sdr import items, masks

from unsing.models import spectral
from unsing.models.data import MIR1K_VALIDATION_SINGERS, load_audio, mir1k_clip_paths
from unsing.models.metrics import sdr_db
from unsing.stft import StftSpec

torch.set_num_threads(2)
RATE, R, M = 44100, 256, 1024
SPEC = StftSpec(1024, 256, "hann")
N = int(sys.argv[1])
STEPS = int(sys.argv[2])

F_LO, F_HI = float(os.environ.get("F_LO", 600)), float(os.environ.get("F_HI", 750))
IN_HZ = float(os.environ.get("IN_HZ", 2700))
TAG = f"{int(F_LO)}-{int(F_HI)}-{int(IN_HZ)}"
DATA = Path("/work/shared/data")
CACHE = Path("/work/probe/cache")
SHIPPED = "/work/main/models/pretrained/unsing-default.pt"


def asym_windows(n_fft):
    rise = np.sqrt(np.hanning(2 * (n_fft - M // 2) + 1)[: n_fft - M // 2])
    fall = np.sqrt(np.hanning(M + 1)[:M])[M // 2 :]
    wa = np.concatenate([rise, fall])
    p = np.zeros(n_fft)
    p[n_fft - M :] = np.hanning(M + 1)[:M]
    ws = np.zeros(n_fft)
    ws[n_fft - M :] = p[n_fft - M :] / wa[n_fft - M :]
    ws *= R / p.sum()
    return torch.tensor(wa, dtype=torch.float32), torch.tensor(ws, dtype=torch.float32)


WA, WS = asym_windows(N)


def asym_stft(x):
    """x (samples,) -> (bins, frames); frame t ends at (t+1)*R; M extra samples of tail."""
    n = x.shape[-1]
    frames = -(-(n + M) // R)
    padded = F.pad(x, (N - R, frames * R - n))
    fr = padded.unfold(0, N, R)[:frames]
    return torch.fft.rfft(fr * WA, dim=1).T


def asym_istft(S, n):
    frames = S.shape[1]
    fr = torch.fft.irfft(S.T, n=N, dim=1) * WS  # (frames, N)
    L = (frames - 1) * R + N
    y = F.fold(fr.T[None], (1, L), (1, N), stride=(1, R))[0, 0, 0]
    return y[N - R : N - R + n]


def crossover(freqs):
    t = np.clip((freqs - F_LO) / (F_HI - F_LO), 0, 1)
    return torch.tensor(0.5 * (1 + np.cos(np.pi * t)), dtype=torch.float32)  # 1 low -> 0 high


H_SYM = crossover(np.arange(513) * RATE / 1024)[:, None]
H_ASYM = crossover(np.arange(N // 2 + 1) * RATE / N)[:, None]
OUT_SYM = int((H_SYM[:, 0] > 0).sum())
OUT_ASYM = int((H_ASYM[:, 0] > 0).sum())
IN_SYM = int(IN_HZ * 1024 / RATE)
IN_ASYM = int(IN_HZ * N / RATE)


def domain_feats(x):
    xs = spectral.stft(x, SPEC)
    xa = asym_stft(x)
    return xs, xa


def training_data(domain):
    path = CACHE / f"asym-train-{domain}-{N}-{TAG}.pt"
    if path.exists():
        return torch.load(path)
    xs_, ts_, ws_, cl_ = [], [], [], []
    folder = DATA / "mir1k" / "audio"
    for ci, clip in enumerate(mir1k_clip_paths(folder, singers_excluded=MIR1K_VALIDATION_SINGERS)):
        audio = load_audio(clip, RATE)
        v, a = audio[1], audio[0]
        ev, ea = float(np.sum(v**2)), float(np.sum(a**2))
        if ev <= 0 or ea <= 0:
            continue
        v = torch.from_numpy((v * np.sqrt(ea / ev)).astype(np.float32))
        a = torch.from_numpy(a)
        mix = v + a
        if domain == "sym":
            X, V, A, nin, nout = (
                spectral.stft(mix, SPEC),
                spectral.stft(v, SPEC),
                spectral.stft(a, SPEC),
                IN_SYM,
                OUT_SYM,
            )
        else:
            X, V, A, nin, nout = asym_stft(mix), asym_stft(v), asym_stft(a), IN_ASYM, OUT_ASYM
        xs_.append(torch.log(X[:nin].abs() ** 2 + 1e-8).T)
        vm, am = V[:nout].abs(), A[:nout].abs()
        ts_.append((vm / (vm + am + 1e-8)).T)
        ws_.append((X[:nout].abs() ** 2).T)
        cl_.append(torch.full((X.shape[1],), ci, dtype=torch.int32))
    d = {"x": torch.cat(xs_), "t": torch.cat(ts_), "w": torch.cat(ws_), "clip": torch.cat(cl_)}
    torch.save(d, path)
    return d


class Block(nn.Module):
    def __init__(self, width, dilation):
        super().__init__()
        self.pad = 2 * dilation
        self.conv = nn.Conv1d(width, width, 3, dilation=dilation)
        self.norm = nn.BatchNorm1d(width)
        self.mix = nn.Conv1d(width, width, 1)

    def forward(self, x):
        return x + self.mix(F.leaky_relu(self.norm(self.conv(F.pad(x, (self.pad, 0)))), 0.01))


class Probe(nn.Module):
    def __init__(self, n_in, n_out, width=128, dilations=(1, 2, 4, 8)):
        super().__init__()
        self.project = nn.Conv1d(n_in, width, 1)
        self.stack = nn.Sequential(*[Block(width, d) for d in dilations])
        self.out = nn.Conv1d(width, n_out, 1)

    def forward(self, x):
        return torch.sigmoid(self.out(self.stack(self.project(x))))


def train(domain, seed=0):
    d = training_data(domain)
    x = d["x"]
    mean, std = x.mean(0), x.std(0) + 1e-5
    x = (x - mean) / std
    t, w, clip = d["t"], d["w"], d["clip"].numpy()
    w = w / w.mean()
    crop = 128
    starts = np.flatnonzero(clip[crop - 1 :] == clip[: len(clip) - crop + 1])
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = Probe(x.shape[1], t.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=STEPS)
    t0 = time.time()
    for step in range(STEPS):
        idx = torch.from_numpy(rng.choice(starts, 32)[:, None] + np.arange(crop)[None])
        pred = model(x[idx].transpose(1, 2))
        loss = (w[idx].transpose(1, 2) * (pred - t[idx].transpose(1, 2)) ** 2)[..., 32:].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 1000 == 0:
            print(
                f"{domain} step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True
            )
    return model.eval(), mean, std


def evaluate(models):
    its = items()
    shipped = masks(SHIPPED, its)
    scores = {}
    for (name, mix, v, a), ms in zip(its, shipped, strict=False):
        x = torch.from_numpy(mix[0])
        n = x.shape[0]
        Xs, Xa = spectral.stft(x, SPEC), asym_stft(x)
        Vs, As = (
            spectral.stft(torch.from_numpy(v[0]), SPEC),
            spectral.stft(torch.from_numpy(a[0]), SPEC),
        )
        Va, Aa = asym_stft(torch.from_numpy(v[0])), asym_stft(torch.from_numpy(a[0]))
        ms = ms.float()
        hi = spectral.istft((ms * (1 - H_SYM) * Xs)[None], SPEC, n)[0]
        irm_s = Vs.abs() / (Vs.abs() + As.abs() + 1e-8)
        irm_a = Va.abs() / (Va.abs() + Aa.abs() + 1e-8)
        est = {
            "shipped": spectral.istft((ms * Xs)[None], SPEC, n)[0],
            "unity (recon)": spectral.istft(((1 - H_SYM) * Xs)[None], SPEC, n)[0]
            + asym_istft(H_ASYM * Xa, n),
            "shipped + oracle sym low": hi + spectral.istft((irm_s * H_SYM * Xs)[None], SPEC, n)[0],
            "shipped + oracle asym low": hi + asym_istft(irm_a * H_ASYM * Xa, n),
            "shipped + shipped low via asym?": hi
            + spectral.istft((ms * H_SYM * Xs)[None], SPEC, n)[0],
        }
        with torch.no_grad():
            for dom, (model, mean, std) in models.items():
                if dom == "sym":
                    inp = torch.log(Xs[:IN_SYM].abs() ** 2 + 1e-8).T
                    low = model(((inp - mean) / std).T[None])[0]
                    m = ms.clone()
                    m[:OUT_SYM] = low
                    est["shipped + probe sym low"] = (
                        hi + spectral.istft((m * H_SYM * Xs)[None], SPEC, n)[0]
                    )
                else:
                    inp = torch.log(Xa[:IN_ASYM].abs() ** 2 + 1e-8).T
                    low = model(((inp - mean) / std).T[None])[0]
                    m = torch.zeros(Xa.shape[0], Xa.shape[1])
                    m[:OUT_ASYM] = low
                    est[f"shipped + probe asym{N} low"] = hi + asym_istft(m * H_ASYM * Xa, n)
        for k, e in est.items():
            if k == "unity (recon)":
                err = float(
                    10
                    * np.log10(np.sum(mix[0] ** 2) / max(np.sum((e.numpy() - mix[0]) ** 2), 1e-20))
                )
                scores.setdefault(k, []).append((name, err))
            else:
                scores.setdefault(k, []).append((name, sdr_db(v[0], e.numpy().astype(np.float32))))
    out = {}
    for k, lst in scores.items():
        vals = np.array([s for _, s in lst])
        out[k] = {
            "all": round(float(np.median(vals)), 3),
            **{
                sg: round(float(np.median([s for nm, s in lst if nm.startswith(sg)])), 3)
                for sg in ("abjones", "annar")
            },
        }
    return out


if __name__ == "__main__":
    t0 = time.time()
    doms = [d for d in (sys.argv[3] if len(sys.argv) > 3 else "sym,asym").split(",") if d]
    models = {d: train(d) for d in doms}
    print(f"trained in {time.time() - t0:.0f}s", flush=True)
    res = evaluate(models)
    for k, v in res.items():
        print(k, v, flush=True)
    Path(f"/work/probe/asym-probe-{N}-{STEPS}-{TAG}-{'_'.join(doms)}.json").write_text(
        json.dumps(res, indent=1)
    )
