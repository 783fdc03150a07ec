"""Probe v2: the real LowBandNet, residual on a frozen U-Net's logits, trained on precomputed
features (U-Net normalised input, U-Net logits) of in-domain real pairs (MIR-1K training singers
at 0 dB + everything-is-free training tracks). Which band widths pay?

usage: probe_residual.py CKPT VARIANTS STEPS THREADS   (variant = OUTxIN, e.g. 16x64,32x128)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, "/work/main")
from unsing.models import spectral
from unsing.models.data import (
    MIR1K_VALIDATION_SINGERS,
    load_audio,
    load_everything_is_free,
    load_mir1k_validation,
    load_musdb18_sample,
    mir1k_clip_paths,
)
from unsing.models.metrics import sdr_db
from unsing.models.train import load_checkpoint
from unsing.models.unet import LowBandNet, UNetConfig
from unsing.stft import StftSpec

CKPT = Path(sys.argv[1])
VARIANTS = [tuple(int(v) for v in s.split("x")) for s in sys.argv[2].split(",")]
STEPS = int(sys.argv[3])
torch.set_num_threads(int(sys.argv[4]))
RATE = 44100
SPEC = StftSpec(1024, 256, "hann")
DATA = Path("/work/shared/data")
MAX_IN, MAX_OUT = max(v[1] for v in VARIANTS), max(v[0] for v in VARIANTS)
EIF_HELD_OUT = "sodium"
REPLACE = bool(os.environ.get("PROBE_REPLACE"))

unet, _ = load_checkpoint(CKPT)
unet.eval()
assert unet.low_band is None


def unet_features(stereo: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(2, samples) -> spectrum (2, bins, T), normalised (2, bins-1, T), logits (2, bins, T)."""
    with torch.no_grad():
        spectrum = spectral.stft(torch.from_numpy(np.ascontiguousarray(stereo, np.float32)), SPEC)
        magnitude = spectrum.abs()[None]
        normalised = torch.log1p(magnitude[:, :, :-1]) * unet.input_scale + unet.input_shift
        mask = unet.mask(magnitude).clamp(1e-6, 1 - 1e-6)
        logits = torch.log(mask) - torch.log1p(-mask)
    return spectrum, normalised[0], logits[0]


def training_pairs():
    folder = DATA / "mir1k" / "audio"
    for clip in mir1k_clip_paths(folder, singers_excluded=MIR1K_VALIDATION_SINGERS):
        audio = load_audio(clip, RATE)
        vocals, accompaniment = audio[1:2], audio[0:1]
        ev, ea = float(np.sum(vocals**2)), float(np.sum(accompaniment**2))
        if ev > 0 and ea > 0:
            vocals = vocals * np.float32(np.sqrt(ea / ev))
        yield np.repeat(vocals, 2, 0), np.repeat(accompaniment, 2, 0)
    for track in sorted((DATA / "everything-is-free").iterdir()):
        if not track.is_dir() or track.name == EIF_HELD_OUT:
            continue
        vocals = load_audio(track / "vocals.ogg", RATE)
        accompaniment = load_audio(track / "accompaniment.ogg", RATE)
        n = min(vocals.shape[1], accompaniment.shape[1])
        yield vocals[:, :n], accompaniment[:, :n]


def build_training():
    tag = CKPT.parent.name + ("" if CKPT.stem == "last" else "-" + CKPT.stem)
    cache = Path(f"/work/probe/cache/resid-{tag}-{MAX_OUT}x{MAX_IN}.pt")
    if cache.exists():
        return torch.load(cache)
    parts = {"inputs": [], "logits": [], "target": [], "weight": [], "clip": []}
    for index, (vocals, accompaniment) in enumerate(training_pairs()):
        mixture = vocals + accompaniment
        spectrum, normalised, logits = unet_features(mixture)
        with torch.no_grad():
            v = spectral.stft(torch.from_numpy(vocals.astype(np.float32)), SPEC)[:, :MAX_OUT].abs()
            a = spectral.stft(torch.from_numpy(accompaniment.astype(np.float32)), SPEC)[
                :, :MAX_OUT
            ].abs()
        parts["inputs"].append(normalised[:, :MAX_IN].permute(2, 0, 1).clone())  # (T, 2, in)
        parts["logits"].append(logits[:, :MAX_OUT].permute(2, 0, 1).clone())
        parts["target"].append((v / (v + a + 1e-8)).permute(2, 0, 1).clone())
        parts["weight"].append((spectrum[:, :MAX_OUT].abs() ** 2).permute(2, 0, 1).clone())
        parts["clip"].append(torch.full((spectrum.shape[-1],), index, dtype=torch.int32))
    data = {k: torch.cat(v) for k, v in parts.items()}
    torch.save(data, cache)
    return data


def train_variant(out_bins: int, in_bins: int, data, steps: int, seed: int = 0) -> LowBandNet:
    config = UNetConfig(low_band_bins=out_bins, low_band_input_bins=in_bins)
    torch.manual_seed(seed)
    net = LowBandNet(config)
    inputs = data["inputs"][:, :, :in_bins]
    logits = data["logits"][:, :, :out_bins]
    target = data["target"][:, :, :out_bins]
    weight = data["weight"][:, :, :out_bins]
    clip = data["clip"].numpy()
    import os

    if os.environ.get("PROBE_CLIP_NORM"):
        clip_t = data["clip"].long()
        per_clip = torch.zeros(int(clip_t.max()) + 1).index_add_(0, clip_t, weight.mean(dim=(1, 2)))
        counts = torch.bincount(clip_t).float()
        weight = weight / (per_clip / counts)[clip_t][:, None, None]
    weight = weight / weight.mean()
    if os.environ.get("PROBE_MIR_ONLY"):
        first_eif = int(os.environ["PROBE_MIR_ONLY"])
        clip = np.where(clip < first_eif, clip, -1 - np.arange(len(clip)))
    crop, warm = 128, 32
    starts = np.flatnonzero(clip[crop - 1 :] == clip[: len(clip) - crop + 1])
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    t0 = time.time()
    for step in range(steps):
        idx = torch.from_numpy(rng.choice(starts, 32)[:, None] + np.arange(crop)[None])
        x = inputs[idx].permute(0, 2, 3, 1)  # (B, 2, in, T)
        if REPLACE:
            pred = torch.sigmoid(net(x))
        else:
            pred = torch.sigmoid(logits[idx].permute(0, 2, 3, 1) + net(x))
        err = weight[idx].permute(0, 2, 3, 1) * (pred - target[idx].permute(0, 2, 3, 1)) ** 2
        loss = err[..., warm:].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 1000 == 0:
            print(
                f"{out_bins}x{in_bins} step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s",
                flush=True,
            )
    net.eval()
    return net


def evaluate(nets: dict[str, LowBandNet]) -> dict:
    items = list(load_mir1k_validation(DATA, RATE))
    items += list(load_everything_is_free(DATA, RATE)) + list(load_musdb18_sample(DATA, RATE))
    scores: dict[str, dict[str, list]] = {}
    for item in items:
        mixture = item.mixture
        stereo = np.repeat(mixture, 2, 0) if mixture.shape[0] == 1 else mixture
        n = stereo.shape[-1]
        spectrum, normalised, logits = unet_features(stereo)
        variants = {"base": torch.sigmoid(logits)}
        for name, net in nets.items():
            low = net.config.low_band_bins
            with torch.no_grad():
                corrected = logits.clone()
                if REPLACE:
                    corrected[:, :low] = net(normalised[None])[0]
                else:
                    corrected[:, :low] += net(normalised[None])[0]
            variants[name] = torch.sigmoid(corrected)
        for name, mask in variants.items():
            with torch.no_grad():
                v = spectral.istft(mask * spectrum, SPEC, n).numpy()
                a = spectral.istft((1 - mask) * spectrum, SPEC, n).numpy()
            if item.vocals.shape[0] == 1:
                v, a = v.mean(0, keepdims=True), a.mean(0, keepdims=True)
            scores.setdefault(item.set_name, {}).setdefault(name, []).append(
                (sdr_db(item.vocals, v), sdr_db(item.accompaniment, a))
            )
    return {
        s: {
            k: [
                round(float(np.median([x[0] for x in v])), 3),
                round(float(np.median([x[1] for x in v])), 3),
            ]
            for k, v in d.items()
        }
        for s, d in scores.items()
    }


if __name__ == "__main__":
    t0 = time.time()
    data = build_training()
    print(f"data {tuple(data['inputs'].shape)} in {time.time() - t0:.0f}s", flush=True)
    nets = {f"{o}x{i}": train_variant(o, i, data, STEPS) for o, i in VARIANTS}
    for name, net in nets.items():
        torch.save(net.state_dict(), f"/work/probe/net-{name}-{STEPS}.pt")
    result = evaluate(nets)
    print(json.dumps(result, indent=1))
    tag = "-".join(f"{o}x{i}" for o, i in VARIANTS)
    Path(f"/work/probe/resid-{tag}-{STEPS}{os.environ.get('PROBE_TAG', '')}.json").write_text(
        json.dumps(result, indent=1)
    )
