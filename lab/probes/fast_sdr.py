"""Fast SDR probe on all 85 held-out MIR-1K clips: masks per checkpoint cached, combos scored.

python fast_sdr.py CKPT [CKPT ...] [--combine mean_mask|mean_logit]
"""

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, "/work/main")
from unsing.models import spectral
from unsing.models.data import load_mir1k_validation
from unsing.models.metrics import sdr_db
from unsing.models.train import load_checkpoint
from unsing.stft import StftSpec

CACHE = Path("/work/probe/cache")
CACHE.mkdir(exist_ok=True)
SPEC = StftSpec(1024, 256, "hann")
torch.set_num_threads(int(__import__("os").environ.get("THREADS", "2")))


def items():
    p = CACHE / "items.pt"
    if p.exists():
        return torch.load(p, weights_only=False)
    out = [
        (it.name, it.mixture, it.vocals, it.accompaniment)
        for it in load_mir1k_validation("/work/shared/data", 44100)
    ]
    torch.save(out, p)
    return out


def masks(ckpt, its):
    key = hashlib.sha1(Path(ckpt).read_bytes()).hexdigest()[:12]
    p = CACHE / f"mask-{key}.pt"
    if p.exists():
        return torch.load(p, weights_only=False)
    model, _ = load_checkpoint(ckpt)
    out = []
    with torch.no_grad():
        for _name, mix, _v, _a in its:
            sig = torch.from_numpy(np.repeat(mix, 2, axis=0)).float()[None]
            spec = spectral.stft(sig, SPEC)
            m = model.mask(spec.abs())[0].mean(0)  # (bins, frames)
            out.append(m.half())
    torch.save(out, p)
    return out


def score(mask_list, its):
    res = {}
    for m, (name, mix, v, a) in zip(mask_list, its, strict=False):
        sig = torch.from_numpy(mix).float()[None]
        spec = spectral.stft(sig, SPEC)[0, 0]
        m = m.float()
        ve = spectral.istft((m * spec)[None, None], SPEC, mix.shape[-1])[0, 0].numpy()
        ae = spectral.istft(((1 - m) * spec)[None, None], SPEC, mix.shape[-1])[0, 0].numpy()
        res[name] = (sdr_db(v[0], ve), sdr_db(a[0], ae))
    return res


def summary(res):
    arr = np.array(list(res.values()))
    out = {"all": np.median(arr, axis=0).round(3).tolist()}
    for sg in ("abjones", "annar"):
        sub = np.array([v for k, v in res.items() if k.startswith(sg)])
        out[sg] = np.median(sub, axis=0).round(3).tolist()
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpts", nargs="+")
    ap.add_argument("--each", action="store_true")
    a = ap.parse_args()
    its = items()
    all_masks = [masks(c, its) for c in a.ckpts]
    if a.each or len(all_masks) == 1:
        for c, ms in zip(a.ckpts, all_masks, strict=False):
            print(c, summary(score(ms, its)), flush=True)
    if len(all_masks) > 1:
        mean = [torch.stack([ms[i].float() for ms in all_masks]).mean(0) for i in range(len(its))]
        print("mean mask", summary(score(mean, its)), flush=True)

        def logit(m):
            m = m.float().clamp(1e-4, 1 - 1e-4)
            return torch.log(m / (1 - m))

        meanl = [
            torch.sigmoid(torch.stack([logit(ms[i]) for ms in all_masks]).mean(0))
            for i in range(len(its))
        ]
        print("mean logit", summary(score(meanl, its)), flush=True)
