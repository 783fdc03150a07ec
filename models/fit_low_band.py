"""Fit a replacing low-band network to a trained U-Net on in-domain real pairs:
``python -m unsing.models.fit_low_band --name RUN --init CKPT [--steps N] [--set ...]``.

The low-band network (``train.low_band_bins`` > 0, ``train.low_band_mode: replace``) makes the
mask of the lowest bins by itself from the U-Net's normalised input; the U-Net is frozen and its
logits there are unused. So the network can be trained without running the U-Net: its inputs
(the normalised magnitudes of the lowest ``low_band_input_bins`` bins) and its targets are
computed once, and 3000 steps take minutes on a CPU.

Material: MIR-1K clips of the training singers (never the validation singers, never
``train.calibration_singers``), vocals scaled to 0 dB against the accompaniment as the
validation protocol mixes them, mono fed as the model's channels; with ``--eif`` also the
everything-is-free training tracks (stereo, true level).

Loss: the squared error of the mask against the ideal ratio mask ``|V| / (|V| + |A|)``, weighted
by the mixture's power in each bin and frame, each clip's weights normalised to mean 1. The
error energy of the masked mixture against the vocals is about ``|X|^2 (M - IRM)^2``, and SDR is
the log of its ratio to the signal's energy per item: the weighting puts the loud bins where SDR
puts them, and each clip counts alike. (The training loop's magnitude L1 weights by ``|X|``, not
``|X|^2``: with it the same network came out 0.6-0.9 dB worse on MIR-1K,
benchmarks/results/experiments/lowband-replace.md.)

The run folder gets what ``unsing train`` writes (``last.pt`` with the full contract, the
config, the data manifest, ``train_log.jsonl`` with validation SDR), so calibration, packaging
and export take it as they take a training run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unsing.config import Config, load_config, to_jsonable
from unsing.errors import ConfigError
from unsing.models import spectral
from unsing.models.atomic_save import save_atomically
from unsing.models.data import (
    EIF_VALIDATION_TRACKS,
    MIR1K_VALIDATION_SINGERS,
    Manifest,
    load_audio,
    mir1k_clip_paths,
)
from unsing.models.unet import CausalUNet
from unsing.provenance import git_commit
from unsing.stft import StftSpec

#: Frames per training crop, and the first frames of a crop left out of the loss (the
#: network's receptive field is 31 frames with dilations 1, 2, 4, 8).
CROP_FRAMES = 128
WARM_FRAMES = 32
BATCH_CROPS = 32


def band_examples(
    model: CausalUNet, clips: list[tuple[np.ndarray, np.ndarray]], spec: StftSpec
) -> dict[str, torch.Tensor]:
    """Per-frame inputs and targets of the band for ``clips`` of ``(vocals, accompaniment)``,
    each ``(1, samples)`` (fed to every channel) or ``(channels, samples)``.

    Returns (T = all clips' frames, C = channels):
        ``inputs`` (T, C, input_bins), ``target`` (T, C, bins) ideal ratio mask, ``weight``
        (T, C, bins) mixture power over its clip's mean, ``clip`` (T,) the clip's index.
    """
    config = model.config
    channels = config.audio_channels
    parts: dict[str, list[torch.Tensor]] = {"inputs": [], "target": [], "weight": [], "clip": []}
    with torch.no_grad():
        for index, (vocals, accompaniment) in enumerate(clips):
            stems = torch.from_numpy(np.stack([vocals, accompaniment]).astype(np.float32))
            if stems.shape[1] != channels:  # mono: the same signal in every channel
                stems = stems[:, :1].repeat(1, channels, 1)
            spectra = spectral.stft(stems, spec)  # (2, C, bins, T)
            mixture = spectra[0] + spectra[1]
            magnitude = mixture.abs()
            normalised = (
                model.input_scale[0] * torch.log1p(magnitude[:, :-1]) + (model.input_shift[0])
            )
            low = slice(0, config.low_band_bins)
            vocal, accompaniment_magnitude = spectra[0, :, low].abs(), spectra[1, :, low].abs()
            power = magnitude[:, low].square()
            parts["inputs"].append(normalised[:, : config.low_band_input_bins].permute(2, 0, 1))
            parts["target"].append(
                (vocal / (vocal + accompaniment_magnitude + 1e-8)).permute(2, 0, 1)
            )
            parts["weight"].append((power / (power.mean() + 1e-12)).permute(2, 0, 1))
            parts["clip"].append(torch.full((magnitude.shape[-1],), index, dtype=torch.int64))
    return {name: torch.cat(values).contiguous() for name, values in parts.items()}


def crop_starts(clip: torch.Tensor, crop_frames: int) -> np.ndarray:
    """Frame indices where a crop of ``crop_frames`` lies inside one clip."""
    ids = clip.numpy()
    if len(ids) < crop_frames:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(ids[crop_frames - 1 :] == ids[: len(ids) - crop_frames + 1])


def band_loss(
    model: CausalUNet, examples: dict[str, torch.Tensor], index: torch.Tensor
) -> torch.Tensor:
    """Weighted squared mask error of the crops ``index`` (batch, frames) after the warm-up."""
    inputs = examples["inputs"][index].permute(0, 2, 3, 1)  # (B, C, input_bins, frames)
    mask = torch.sigmoid(model.low_band(inputs))
    target = examples["target"][index].permute(0, 2, 3, 1)
    weight = examples["weight"][index].permute(0, 2, 3, 1)
    return (weight * (mask - target).square())[..., WARM_FRAMES:].mean()


def training_clips(
    data_root: Path, rate: int, excluded: tuple[str, ...], manifest: Manifest
) -> list[tuple[np.ndarray, np.ndarray]]:
    """MIR-1K training clips as ``(vocals, accompaniment)``, ``(1, samples)`` each, at 0 dB."""
    folder = data_root / "mir1k" / "audio"
    paths = mir1k_clip_paths(folder, singers_excluded=(*MIR1K_VALIDATION_SINGERS, *excluded))
    if not paths:
        raise FileNotFoundError(f"no MIR-1K training clips in {folder}")
    clips = []
    for path in paths:
        audio = load_audio(path, rate)
        vocals, accompaniment = audio[1:2], audio[0:1]
        vocal_energy = float(np.sum(np.square(vocals, dtype=np.float64)))
        accompaniment_energy = float(np.sum(np.square(accompaniment, dtype=np.float64)))
        if vocal_energy <= 0 or accompaniment_energy <= 0:
            continue
        vocals = vocals * np.float32(math.sqrt(accompaniment_energy / vocal_energy))
        manifest.add(path, "training", audio.shape[1] / rate, "MIR-1K research use")
        clips.append((vocals, accompaniment))
    return clips


def eif_training_tracks(
    data_root: Path, rate: int, manifest: Manifest
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The everything-is-free training tracks (not the validation track) as stereo
    ``(vocals, accompaniment)`` at their true level."""
    folder = data_root / "everything-is-free"
    tracks = []
    for track in sorted(p for p in folder.iterdir() if (p / "vocals.ogg").is_file()):
        if track.name in EIF_VALIDATION_TRACKS:
            continue
        vocals = load_audio(track / "vocals.ogg", rate)
        accompaniment = load_audio(track / "accompaniment.ogg", rate)
        samples = min(vocals.shape[1], accompaniment.shape[1])
        for name in ("vocals", "accompaniment"):
            manifest.add(track / f"{name}.ogg", "training", samples / rate, "CC0")
        tracks.append((vocals[:, :samples], accompaniment[:, :samples]))
    if not tracks:
        raise FileNotFoundError(f"no everything-is-free training tracks in {folder}")
    return tracks


@dataclass(frozen=True)
class FitSchedule:
    """Steps, peak learning rate (one-cycle), validation interval and the crop generator."""

    steps: int
    learning_rate: float
    log_every: int
    rng: np.random.Generator


def fit_steps(
    model: CausalUNet,
    module: torch.nn.Module,
    loss_of: Callable[[CausalUNet, dict[str, torch.Tensor], torch.Tensor], torch.Tensor],
    examples: dict[str, torch.Tensor],
    starts: np.ndarray,
    schedule: FitSchedule,
    validate: Callable[[], dict[str, Any]],
    log_path: Path,
    started: float,
) -> dict[str, Any]:
    """Adam with a one-cycle schedule on ``module``'s parameters: random crops of
    ``CROP_FRAMES`` frames from ``starts``, ``loss_of(model, examples, index)``; every
    ``log_every`` steps (and at the end) the model is validated and a record is appended to
    ``log_path`` and printed. Returns the last record; leaves ``model`` in eval mode."""
    optimizer = torch.optim.Adam(module.parameters(), lr=schedule.learning_rate)
    one_cycle = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, schedule.learning_rate, schedule.steps
    )
    module.train()
    log_path.unlink(missing_ok=True)
    losses: list[float] = []
    record: dict[str, Any] = {}
    window_started = time.time()  # examples per second: optimizer steps since the last log
    for step in range(1, schedule.steps + 1):
        chosen = schedule.rng.choice(starts, BATCH_CROPS)
        index = torch.from_numpy(chosen[:, None] + np.arange(CROP_FRAMES)[None])
        loss = loss_of(model, examples, index)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        one_cycle.step()
        losses.append(loss.item())
        if step % schedule.log_every and step != schedule.steps:
            continue
        model.eval()
        record = {
            "epoch": (step - 1) // schedule.log_every,
            "step": step,
            "loss": round(float(np.mean(losses)), 5),
            "learning_rate": one_cycle.get_last_lr()[0],
            "examples_per_s": round(len(losses) * BATCH_CROPS / (time.time() - window_started), 2),
            "elapsed_s": round(time.time() - started, 1),
            "validation_sdr_db": validate(),
        }
        losses = []
        with log_path.open("a") as log:
            log.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)
        module.train()
        window_started = time.time()
    model.eval()
    return record


def fit(
    config: Config,
    run_dir: Path,
    init_checkpoint: Path,
    steps: int,
    log_every: int = 1000,
    validation_items: list | None = None,
    with_eif: bool = False,
) -> Path:
    """Fit the low-band network of ``config``'s architecture on top of ``init_checkpoint``'s
    U-Net and write ``run_dir/last.pt`` (and the run's config, manifest and log); ``with_eif``
    adds the everything-is-free training tracks to the MIR-1K clips."""
    from unsing.models.train import (
        _load_init,
        checkpoint_record,
        freeze_outside_low_band,
        run_validation_set,
        unet_config,
        validate,
    )

    settings = config.train
    arch = unet_config(config)
    if not arch.low_band_bins or arch.low_band_mode != "replace":
        raise ConfigError(
            "fit_low_band fits a replacing low-band network: set train.low_band_bins > 0 and "
            "train.low_band_mode=replace"
        )
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    rng = np.random.default_rng(settings.seed)
    spec = StftSpec.from_config(config.stft)
    rate = config.audio.sample_rate_hz
    run_dir.mkdir(parents=True, exist_ok=True)
    model = CausalUNet(arch)
    init_record = _load_init(model, Path(init_checkpoint), arch)
    model.eval()  # the U-Net never runs here; only the low band's parameters move
    freeze_outside_low_band(model)
    manifest = Manifest()
    clips = training_clips(settings.data_root, rate, settings.calibration_singers, manifest)
    if with_eif:
        clips += eif_training_tracks(settings.data_root, rate, manifest)
    if validation_items is None:
        validation_items = run_validation_set(config, manifest)
    commit = git_commit()  # the code that runs, before anyone edits the tree
    manifest_dict = manifest.as_dict()
    (run_dir / "manifest.json").write_text(json.dumps(manifest_dict, indent=1))
    (run_dir / "config.json").write_text(json.dumps(to_jsonable(config), indent=1))
    started = time.time()
    examples = band_examples(model, clips, spec)
    starts = crop_starts(examples["clip"], CROP_FRAMES)
    if len(starts) == 0:
        raise ValueError(f"no clip is {CROP_FRAMES} frames long")
    record = fit_steps(
        model,
        model.low_band,
        band_loss,
        examples,
        starts,
        FitSchedule(steps, settings.learning_rate, log_every, rng),
        lambda: validate(model, validation_items, spec),
        run_dir / "train_log.jsonl",
        started,
    )
    model.eval()
    state = {
        "model_state": model.state_dict(),
        "epoch": record["epoch"],
        "step": steps,
        **checkpoint_record(
            config, arch, manifest_dict, commit, record["validation_sdr_db"], init_record
        ),
        "world_size": 1,
        "fitted_by": "unsing.models.fit_low_band",
        "fit": {"steps": steps, "with_eif": with_eif},
    }
    save_atomically(state, run_dir / "last.pt")
    return run_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m unsing.models.fit_low_band", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--name", required=True, help="run folder under train.runs_dir")
    parser.add_argument("--init", type=Path, required=True, help="the trained U-Net (.pt)")
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps")
    parser.add_argument(
        "--eif", action="store_true", help="also the everything-is-free training tracks"
    )
    parser.add_argument("--config", type=Path, default=None, help="a config file overlay")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, overrides=args.set)
        if args.steps < 1:
            raise ConfigError(f"--steps {args.steps}: need at least 1")
        run_dir = fit(
            config,
            Path(config.train.runs_dir) / args.name,
            args.init,
            args.steps,
            with_eif=args.eif,
        )
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"unsing: {error}", file=sys.stderr)
        return 2
    print(f"unsing: low band fitted, run saved in {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
