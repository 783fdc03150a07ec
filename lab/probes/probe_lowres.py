"""Probe: which causal inputs let a small TCN predict the low-band mask (bins 0-15) best?

Variants: A = log|X| bins 0-63 (1024 STFT); B = A + instantaneous-frequency deviation bins 0-63;
C = A + log|X_long| bins 0-255 of a causal 4096-sample window ending where each frame ends;
D = A + B's IF + C's long bins.
Each is trained on MIR-1K training singers (0 dB) and put in place of the U-Net's mask in bins
0-15 on the 85 held-out clips (fast SDR, median).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, "/work/main")
from unsing.models import spectral
from unsing.models.data import (
    MIR1K_VALIDATION_SINGERS,
    load_audio,
    load_mir1k_validation,
    mir1k_clip_paths,
)
from unsing.models.metrics import sdr_db
from unsing.models.train import load_checkpoint
from unsing.stft import StftSpec

torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
RATE = 44100
SPEC = StftSpec(1024, 256, "hann")
LONG = 4096
LOW_IN, LOW_OUT, LONG_BINS = 64, 16, 256
DATA = Path("/work/shared/data")
CACHE = Path("/work/probe/cache")
CACHE.mkdir(parents=True, exist_ok=True)


def long_stft(signal: torch.Tensor) -> torch.Tensor:
    """Causal long-window STFT, frame t ending where SPEC's frame t ends: (bins, frames)."""
    n = signal.shape[-1]
    frames = SPEC.frame_count(n)
    lead = LONG - SPEC.hop_samples
    tail = frames * SPEC.hop_samples - n
    padded = F.pad(signal[None], (lead, tail))[0]
    window = torch.hann_window(LONG, periodic=True, dtype=signal.dtype)
    return torch.stft(
        padded, LONG, SPEC.hop_samples, window=window, center=False, return_complex=True
    )


def features(mixture: np.ndarray) -> dict[str, np.ndarray]:
    """mixture (samples,) -> per-frame features (frames, F) by name."""
    x = torch.from_numpy(mixture.astype(np.float32))
    spectrum = spectral.stft(x, SPEC)  # (bins, frames)
    low = spectrum[:LOW_IN]
    logmag = torch.log(low.abs() ** 2 + 1e-8)
    phase = torch.angle(low)
    expected = 2 * np.pi * SPEC.hop_samples * torch.arange(LOW_IN)[:, None] / SPEC.n_fft
    delta = torch.diff(phase, dim=1, prepend=phase[:, :1]) - expected
    delta = torch.remainder(delta + np.pi, 2 * np.pi) - np.pi
    long = long_stft(x)[:LONG_BINS]
    long_logmag = torch.log(long.abs() ** 2 + 1e-8)
    return {
        "logmag": logmag.T.numpy(),
        "if_cos": torch.cos(delta).T.numpy(),
        "if_sin": torch.sin(delta).T.numpy(),
        "long": long_logmag.T.numpy(),
    }


def training_data() -> dict[str, np.ndarray]:
    path = CACHE / "train.npz"
    if path.exists():
        return dict(np.load(path))
    folder = DATA / "mir1k" / "audio"
    parts: dict[str, list[np.ndarray]] = {}
    for clip in mir1k_clip_paths(folder, singers_excluded=MIR1K_VALIDATION_SINGERS):
        audio = load_audio(clip, RATE)
        vocals, accompaniment = audio[1], audio[0]
        ev, ea = float(np.sum(vocals**2)), float(np.sum(accompaniment**2))
        if ev <= 0 or ea <= 0:
            continue
        vocals = vocals * np.sqrt(ea / ev)
        mixture = vocals + accompaniment
        f = features(mixture)
        v = spectral.stft(torch.from_numpy(vocals.astype(np.float32)), SPEC)[:LOW_OUT].abs()
        a = spectral.stft(torch.from_numpy(accompaniment.astype(np.float32)), SPEC)[:LOW_OUT].abs()
        m = spectral.stft(torch.from_numpy(mixture.astype(np.float32)), SPEC)[:LOW_OUT].abs()
        f["target"] = (v / (v + a + 1e-8)).T.numpy()
        f["weight"] = (m**2).T.numpy()
        f["clip"] = np.full(f["logmag"].shape[0], len(parts.get("clip", [])), np.int32)
        for k, val in f.items():
            parts.setdefault(k, []).append(val.astype(np.float32) if k != "clip" else val)
    data = {k: np.concatenate(v) for k, v in parts.items()}
    np.savez(path, **data)
    return data


INPUTS = {
    "A": ("logmag",),
    "B": ("logmag", "if_cos", "if_sin"),
    "C": ("logmag", "long"),
    "D": ("logmag", "if_cos", "if_sin", "long"),
    "L": ("long",),
}


class Block(nn.Module):
    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.pad = 2 * dilation
        self.conv = nn.Conv1d(width, width, 3, dilation=dilation)
        self.norm = nn.BatchNorm1d(width)
        self.mix = nn.Conv1d(width, width, 1)

    def forward(self, x):
        return x + self.mix(F.leaky_relu(self.norm(self.conv(F.pad(x, (self.pad, 0)))), 0.01))


class Probe(nn.Module):
    def __init__(self, n_in: int, width: int = 128, dilations=(1, 2, 4, 8)) -> None:
        super().__init__()
        self.project = nn.Conv1d(n_in, width, 1)
        self.stack = nn.Sequential(*[Block(width, d) for d in dilations])
        self.out = nn.Conv1d(width, LOW_OUT, 1)

    def forward(self, x):  # (B, F, T) -> (B, 16, T) mask
        return torch.sigmoid(self.out(self.stack(self.project(x))))


def stack_inputs(f: dict[str, np.ndarray], names) -> np.ndarray:
    return np.concatenate([f[n] for n in names], axis=1)


def train_probe(variant: str, data: dict[str, np.ndarray], steps: int, seed: int = 0):
    names = INPUTS[variant]
    x = stack_inputs(data, names)
    mean, std = x.mean(0), x.std(0) + 1e-5
    x = ((x - mean) / std).astype(np.float32)
    target, weight = data["target"], data["weight"]
    weight = weight / weight.mean()
    clip = data["clip"]
    # valid crop starts: crops inside one clip
    crop = 128
    starts = np.flatnonzero(np.r_[clip[crop - 1 :] == clip[: len(clip) - crop + 1]])
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = Probe(x.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    xt, tt, wt = torch.from_numpy(x), torch.from_numpy(target), torch.from_numpy(weight)
    t0 = time.time()
    for step in range(steps):
        s = rng.choice(starts, 32)
        idx = torch.from_numpy(s[:, None] + np.arange(crop)[None])
        xb = xt[idx].transpose(1, 2)
        tb, wb = tt[idx].transpose(1, 2), wt[idx].transpose(1, 2)
        pred = model(xb)
        loss = (wb * (pred - tb) ** 2)[..., 32:].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0:
            print(
                f"{variant} step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True
            )
    model.eval()
    return model, names, mean, std


def evaluate(probes, checkpoint: Path) -> dict:
    unet, _ = load_checkpoint(checkpoint)
    unet.eval()
    scores: dict[str, list] = {}
    for item in load_mir1k_validation(DATA, RATE):
        mono = item.mixture[0]
        n = mono.shape[-1]
        stereo = torch.from_numpy(np.stack([mono, mono]).astype(np.float32))
        with torch.no_grad():
            spectrum = spectral.stft(stereo, SPEC)  # (2, bins, frames)
            base = unet.mask(spectrum.abs()[None])[0]  # (2, bins, frames)
            f = features(mono)
        variants = {"base": base}
        for name, (model, names, mean, std) in probes.items():
            x = torch.from_numpy(((stack_inputs(f, names) - mean) / std).astype(np.float32))
            with torch.no_grad():
                low = model(x.T[None])[0]  # (16, frames)
            m = base.clone()
            m[:, :LOW_OUT] = low[None]
            variants[name] = m
        for name, m in variants.items():
            with torch.no_grad():
                v = spectral.istft(m * spectrum, SPEC, n).mean(0).numpy()
                a = spectral.istft((1 - m) * spectrum, SPEC, n).mean(0).numpy()
            scores.setdefault(name, []).append(
                (sdr_db(item.vocals[0], v), sdr_db(item.accompaniment[0], a))
            )
    return {
        k: [
            round(float(np.median([s[0] for s in v])), 3),
            round(float(np.median([s[1] for s in v])), 3),
        ]
        for k, v in scores.items()
    }


if __name__ == "__main__":
    variants = sys.argv[1].split(",")
    steps = int(sys.argv[2])
    t0 = time.time()
    data = training_data()
    print(f"data {data['logmag'].shape} in {time.time() - t0:.0f}s", flush=True)
    probes = {v: train_probe(v, data, steps) for v in variants}
    result = evaluate(probes, Path("/work/main/runs/default-v3/last.pt"))
    print(json.dumps(result))
    Path(f"/work/probe/result-{'-'.join(variants)}-{steps}.json").write_text(json.dumps(result))
