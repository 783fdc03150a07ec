"""Fit a long-window low band to a trained model:
``python -m unsing.models.fit_long_band --name RUN --init CKPT [--recipe FILE] [--stage NAME]``.

Its settings are the recipe's ``long_band`` section (``models/recipes/default.yaml``: stage
``v7`` is the shipped model's fit); its seed, peak learning rate, threads, data and validation
the recipe's ``train`` section. ``--set long_band.key=value`` or the flags (``--steps``,
``--target``, ``--dilations``, ...) override them.

The long band (``models/unet.py``, :class:`LongBandNet`; ``unsing.long_band``) makes the vocal
mask of the lowest bins in a long-window STFT with the project STFT's latency
(``unsing.stft.LongWindowSpec``: a 4096-sample asymmetric analysis window whose synthesis
covers its newest 1024 samples). Below the crossover it replaces the U-Net's mask. Bass notes
and a voice's lowest harmonics share the project STFT's 43 Hz bins; at 10.8 Hz they fall apart,
and a network that sees them apart separates them better
(docs/experiments/long-window-band.md).

The U-Net is untouched (its weights, calibration included, are copied), so the band is fitted
alone from precomputed inputs and targets: 3000 steps take minutes on a CPU.

Material: MIR-1K clips of the training singers at 0 dB (never the validation singers), mono fed
to every channel, and the everything-is-free training tracks (stereo, true level); with
``long_band.random_mixes: N`` also N random mixes drawn as ``unsing train`` draws them
(``long_band.random_mix_seconds`` each).

Loss: the squared error of the mask against the ideal ratio mask ``|V| / (|V| + |A|)`` of the
long-window STFT, weighted by the mixture's power in each bin and frame, each clip's weights
normalised to mean 1: the error energy of a masked bin is about ``|X|^2 (M - IRM)^2``, so the
loud bins count as SDR counts them, and each clip counts alike. (The training loop's magnitude
L1 weights by ``|X|``, not ``|X|^2``: with it the same kind of band network came out 0.6-0.9 dB
worse on MIR-1K, docs/experiments/lowband-replace.md.)
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unsing.errors import ConfigError
from unsing.long_band import LongBandLayout
from unsing.models import spectral
from unsing.models.atomic_save import save_atomically
from unsing.models.augment import AugmentSettings, RandomMixer
from unsing.models.data import (
    EIF_VALIDATION_TRACKS,
    MIR1K_VALIDATION_SINGERS,
    MUSDB7S_LICENCE,
    Manifest,
    build_training_pool,
    load_audio,
    mir1k_clip_paths,
    musdb7s_tracks,
    read_stem_pair,
)
from unsing.models.recipe import (
    MASK_TARGETS,
    LongBandSection,
    Recipe,
    add_recipe_arguments,
    load_recipe,
)
from unsing.models.unet import (
    LONG_BAND_POWER_FLOOR,
    CausalUNet,
    UNetConfig,
    unet_logits_at_long_bins,
)
from unsing.provenance import git_commit
from unsing.schema import to_jsonable
from unsing.stft import LongWindowSpec

#: frames of a clip's long-window spectrogram computed at once (0.5 GB for stereo stems)
SEGMENT_FRAMES = 8192

#: Frames per training crop, the first frames of a crop left out of the loss (at least; see
#: :func:`long_band_loss`) and crops per optimizer step.
CROP_FRAMES = 128
WARM_FRAMES = 32
BATCH_CROPS = 32


def band_architecture(band: LongBandSection, base: UNetConfig, sample_rate_hz: int) -> UNetConfig:
    """``base`` (a trained U-Net's architecture) with the long band ``band`` describes."""
    bin_hz = sample_rate_hz / band.analysis_samples
    low, high = (hz / bin_hz for hz in band.crossover_hz)
    return dataclasses.replace(
        base,
        long_band_analysis_samples=band.analysis_samples,
        long_band_input_bins=int(band.input_hz / bin_hz) + 1,
        long_band_bins=int(np.ceil(high)) + 1,
        long_band_crossover_bins=(round(low, 3), round(high, 3)),
        long_band_channels=band.channels,
        long_band_dilations=band.dilations,
        long_band_unet_input=band.unet_input,
    )


def long_band_examples(
    layout: LongBandLayout,
    channels: int,
    clips: list[tuple[np.ndarray, np.ndarray]],
    model: CausalUNet | None = None,
    segment_frames: int = SEGMENT_FRAMES,
    target: str = "irm",
) -> dict[str, torch.Tensor]:
    """Per-frame inputs and targets of the long band for ``clips`` of ``(vocals,
    accompaniment)``, each ``(1, samples)`` (fed to every channel) or ``(channels, samples)``.

    Memory: the features are written clip by clip into tensors allocated once, each clip's
    spectrogram ``segment_frames`` frames at a time, and ``clips`` is emptied as it goes (each
    clip's audio is freed once its features are in): two hours of training audio and their
    features fit beside each other in a few GB.

    Returns (T = all clips' frames, C = channels):
        ``inputs`` (T, C, input_bins) long-window magnitudes, ``target`` (T, C, output_bins)
        the ``target`` mask (:func:`mask_target`), ``weight`` (T, C, output_bins) mixture
        power over its clip's mean,
        ``clip`` (T,) the clip's index; with ``model`` (its band reads the U-Net's mask) also
        ``unet`` (T, C, output_bins): the U-Net's mask as the band reads it.
    """
    spec, short = layout.spec, layout.spec.short
    inputs, outputs = layout.input_bins, layout.output_bins
    total = sum(spec.frame_count(vocals.shape[-1]) for vocals, _ in clips)
    examples = {
        "inputs": torch.empty(total, channels, inputs),
        "target": torch.empty(total, channels, outputs),
        "weight": torch.empty(total, channels, outputs),
        "clip": torch.empty(total, dtype=torch.int64),
    }
    if model is not None:
        examples["unet"] = torch.empty(total, channels, outputs)
    row = 0
    for index in range(len(clips)):
        vocals, accompaniment = clips[index]
        clips[index] = None  # type: ignore[call-overload]  # freed once its features are in
        stems = torch.from_numpy(np.stack([vocals, accompaniment]).astype(np.float32))
        del vocals, accompaniment
        if stems.shape[1] != channels:  # mono: the same signal in every channel (broadcast)
            stems = stems[:, :1]
        frames = spec.frame_count(stems.shape[-1])
        rows = slice(row, row + frames)
        for first, spectra in spectral.stft_segments(stems, spec, segment_frames):
            at = slice(row + first, row + first + spectra.shape[-1])
            mixture = (spectra[0] + spectra[1])[:, :inputs].abs().permute(2, 0, 1)  # (t, C', in)
            examples["inputs"][at] = mixture
            examples["target"][at] = mask_target(
                spectra[0, :, :outputs], spectra[1, :, :outputs], target
            ).permute(2, 0, 1)
            del spectra
            examples["weight"][at] = mixture[..., :outputs].square()
        weight = examples["weight"][rows]
        weight /= weight.mean() + 1e-12
        examples["clip"][rows] = index
        if model is not None:
            with torch.no_grad():
                short_magnitude = spectral.stft(stems[0] + stems[1], short).abs()[None]
                short_magnitude = short_magnitude.expand(-1, channels, -1, -1)
                unet = unet_mask_of(model, short_magnitude)
                logits = unet_logits_at_long_bins(model.long_band, unet)[0]
            examples["unet"][rows] = logits.permute(2, 0, 1)
        row += frames
    clips.clear()
    return examples


def mask_target(vocals: torch.Tensor, accompaniment: torch.Tensor, kind: str) -> torch.Tensor:
    """The mask the band learns from the complex spectra of the stems (any shape, same shape).

    ``irm``: the ideal ratio mask ``|V| / (|V| + |A|)``. ``psm``: the phase-sensitive mask
    ``Re(V conj(X)) / |X|^2`` with ``X = V + A`` (Erdogan et al., ICASSP 2015), not clipped:
    weighted by ``|X|^2`` its squared error is the error energy of the masked vocals
    ``|M X - V|^2`` up to a term the mask cannot change, so the loss is what SDR counts when
    the mask is applied to the mixture's phase, as the engine applies it. The error of the
    accompaniment ``X - M X - A`` is the same signal with the opposite sign.
    """
    if kind == "irm":
        vocal, other = vocals.abs(), accompaniment.abs()
        return vocal / (vocal + other + 1e-8)
    if kind == "psm":
        mixture = vocals + accompaniment
        return (vocals * mixture.conj()).real / (mixture.abs().square() + 1e-8)
    raise ConfigError(f"mask target {kind!r}: use {' or '.join(MASK_TARGETS)}")


def random_mix_clips(
    recipe: Recipe, rng: np.random.Generator, manifest: Manifest
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``long_band.random_mixes`` examples of ``unsing train``'s random mixes (its pool, the
    validation singers and tracks left out, and its augmentation) as ``(vocals,
    accompaniment)`` pairs, ``(2, samples)`` each: varied levels, panning, filters, reverb and
    instrumental-only excerpts that the real pairs alone do not show the band. The pool's files
    enter ``manifest`` with the role ``random_mix_<role>``."""
    train, band, rate = recipe.train, recipe.long_band, recipe.model.sample_rate_hz
    pool_manifest = Manifest()
    pool = build_training_pool(train.data_root, rate, pool_manifest)
    for entry in pool_manifest.entries:
        manifest.add(entry.path, f"random_mix_{entry.role}", entry.seconds, entry.licence)
    mixer = RandomMixer(
        pool,
        rate,
        int(band.random_mix_seconds * rate),
        rng,
        AugmentSettings(
            real_pair_probability=train.real_pair_probability,
            pitch_shift_semitones=train.pitch_shift_semitones,
        ),
    )
    clips = []
    for _ in range(band.random_mixes):
        _, vocals, accompaniment = mixer.sample()
        clips.append((vocals, accompaniment))
    return clips


def unet_mask_of(
    model: CausalUNet, short_magnitude: torch.Tensor, chunk_frames: int = 2048
) -> torch.Tensor:
    """The U-Net's mask ``(batch, channels, bins, frames)`` of a long-band model (its long band
    fed silence: the U-Net's part of the output does not depend on it).

    Evaluated ``chunk_frames`` at a time, each chunk preceded by the receptive field's past
    frames, so that a five-minute track's activations never sit in memory at once; the mask is
    the one-shot mask (the network is causal with a finite receptive field). Needs
    ``lookahead_frames = 0`` (the long band does)."""
    config = model.config
    batch, channels, bins, frames = short_magnitude.shape
    past = config.receptive_field_frames - 1
    masks = []
    for start in range(0, frames, chunk_frames):
        first = max(0, start - past)
        part = short_magnitude[..., first : start + chunk_frames]
        silence = part.new_zeros(batch, channels, config.long_band_input_bins, part.shape[-1])
        mask = model(torch.cat([part, silence], dim=2))[:, :, :bins]
        masks.append(mask[..., start - first :])
    return torch.cat(masks, dim=-1)


def normalise_inputs(model: CausalUNet, inputs: torch.Tensor, chunk_frames: int = 65536) -> None:
    """Set the band's per-bin input scale and shift so that its log powers have zero mean and
    unit variance on ``inputs`` (T, C, input_bins).

    The statistics are summed ``chunk_frames`` frames at a time (in float64), so the log
    powers of all the training audio never sit in memory at once: whole, they are twice the
    size of ``inputs``, which is the largest of the fit's tensors."""
    bins = inputs.shape[-1]
    total = torch.zeros(bins, dtype=torch.float64)
    total_square = torch.zeros(bins, dtype=torch.float64)
    count = 0
    for start in range(0, inputs.shape[0], chunk_frames):
        chunk = inputs[start : start + chunk_frames]
        log_power = torch.log(chunk.square() + LONG_BAND_POWER_FLOOR).double()
        total += log_power.sum(dim=(0, 1))
        total_square += log_power.square().sum(dim=(0, 1))
        count += chunk.shape[0] * chunk.shape[1]
    mean = total / count
    variance = (total_square - count * mean.square()) / max(count - 1, 1)  # as torch.std
    std = (variance.clamp(min=0).sqrt() + 1e-5).float()
    mean = mean.float()
    with torch.no_grad():
        model.long_band.input_scale.copy_((1 / std)[None, None, :, None])
        model.long_band.input_shift.copy_((-mean / std)[None, None, :, None])


def long_band_loss(
    model: CausalUNet, examples: dict[str, torch.Tensor], index: torch.Tensor
) -> torch.Tensor:
    """Weighted squared mask error of the crops ``index`` (batch, frames) after the warm-up:
    ``WARM_FRAMES`` or the band's own past, whichever is longer (before it the band's causal
    convolutions see the crop's zero padding, not the song)."""
    band = model.long_band
    config = model.config
    warm_frames = max(WARM_FRAMES, (config.time_kernel - 1) * sum(config.long_band_dilations))
    features = band.normalise(examples["inputs"][index].permute(0, 2, 3, 1))  # (B, C, in, T)
    if "unet" in examples:
        features = torch.cat([features, examples["unet"][index].permute(0, 2, 3, 1)], dim=2)
    mask = band.network(features)
    target = examples["target"][index].permute(0, 2, 3, 1)
    weight = examples["weight"][index].permute(0, 2, 3, 1)
    return (weight * (mask - target).square())[..., warm_frames:].mean()


def crop_starts(clip: torch.Tensor, crop_frames: int) -> np.ndarray:
    """Frame indices where a crop of ``crop_frames`` lies inside one clip."""
    ids = clip.numpy()
    if len(ids) < crop_frames:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(ids[crop_frames - 1 :] == ids[: len(ids) - crop_frames + 1])


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


def musdb7s_training_songs(
    data_root: Path, rate: int, manifest: Manifest
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``musdb18-7s`` training songs (``train.musdb18_7s``) as stereo ``(vocals,
    accompaniment)`` at their true level."""
    songs = []
    for track in musdb7s_tracks(data_root, "train"):
        vocals, accompaniment = read_stem_pair(track, rate)
        manifest.add(track, "training", vocals.shape[1] / rate, MUSDB7S_LICENCE)
        songs.append((vocals, accompaniment))
    if not songs:
        raise FileNotFoundError(f"no musdb18-7s training songs in {data_root}")
    return songs


@dataclasses.dataclass(frozen=True)
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


def load_base(path: Path) -> dict[str, Any]:
    """The trained model's checkpoint (no long band yet)."""
    if not path.is_file():
        raise ConfigError(f"--init {path}: no such checkpoint")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if "architecture" not in state or "model_state" not in state:
        raise ConfigError(f"--init {path}: not an unsing checkpoint (no architecture)")
    if state["architecture"].get("long_band_analysis_samples"):
        raise ConfigError(f"--init {path}: it has a long band already")
    return state


def fit(
    recipe: Recipe,
    run_dir: Path,
    init_checkpoint: Path,
    log_every: int = 1000,
    validation_items: list | None = None,
) -> Path:
    """Add the recipe's long band (``recipe.long_band``) to ``init_checkpoint``'s model, fit it
    for ``long_band.steps`` steps and write ``run_dir/last.pt`` (and the run's config,
    manifest and log)."""
    from unsing.models.train import checkpoint_record, run_validation_set, validate

    train, band = recipe.train, recipe.long_band
    spec = recipe.stft
    rate = recipe.model.sample_rate_hz
    LongWindowSpec(band.analysis_samples, spec)  # a window that does not fit: before any data
    torch.manual_seed(train.seed)
    torch.set_num_threads(train.threads)
    rng = np.random.default_rng(train.seed)
    base = load_base(Path(init_checkpoint))
    if base["contract"]["sample_rate_hz"] != rate or base["contract"]["n_fft"] != spec.n_fft:
        raise ConfigError(f"--init {init_checkpoint}: its rate or n_fft differ from the recipe's")
    arch = band_architecture(band, UNetConfig.from_dict(base["architecture"]), rate)
    layout = LongBandLayout.from_architecture(arch.as_dict(), spec)
    model = CausalUNet(arch)
    missing, unexpected = model.load_state_dict(base["model_state"], strict=False)
    if unexpected or any(not key.startswith("long_band.") for key in missing):
        raise ConfigError(f"--init {init_checkpoint}: weights do not fit ({unexpected})")
    model.eval()  # the U-Net never runs in the fit; batch norm keeps its statistics
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith("long_band."))
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest()
    clips = training_clips(train.data_root, rate, (), manifest)
    clips += eif_training_tracks(train.data_root, rate, manifest)
    if train.musdb18_7s:
        clips += musdb7s_training_songs(train.data_root, rate, manifest)
    if band.random_mixes:
        clips += random_mix_clips(recipe, np.random.default_rng(train.seed + 1), manifest)
    if validation_items is None:
        validation_items = run_validation_set(recipe, manifest)
    commit = git_commit()
    manifest_dict = manifest.as_dict()
    (run_dir / "manifest.json").write_text(json.dumps(manifest_dict, indent=1))
    (run_dir / "config.json").write_text(json.dumps(to_jsonable(recipe), indent=1))
    started = time.time()
    examples = long_band_examples(
        layout,
        arch.audio_channels,
        clips,
        model if arch.long_band_unet_input else None,
        target=band.target,
    )
    del clips
    normalise_inputs(model, examples["inputs"])
    starts = crop_starts(examples["clip"], CROP_FRAMES)
    if len(starts) == 0:
        raise ValueError(f"no clip is {CROP_FRAMES} frames long")
    record = fit_steps(
        model,
        model.long_band,
        long_band_loss,
        examples,
        starts,
        FitSchedule(band.steps, train.learning_rate, log_every, rng),
        lambda: validate(model, validation_items, spec),
        run_dir / "train_log.jsonl",
        started,
    )
    model.eval()
    init_path = Path(init_checkpoint)
    init_record = {  # as unsing train records its start, so the model card's lineage goes on
        "path": str(init_path),
        "sha256": hashlib.sha256(init_path.read_bytes()).hexdigest(),
        "epoch": base.get("epoch"),
        "step": base.get("step"),
        "git_commit": base.get("git_commit"),
        "config_train": base.get("config", {}).get("train"),
        "init_checkpoint": base.get("init_checkpoint"),
        "validation_sdr_db": base.get("validation_sdr_db"),
        "architecture": base["architecture"],
        "transfer": None,
        "calibration_removed": None,
    }
    state = {
        "model_state": model.state_dict(),
        "epoch": record["epoch"],
        "step": band.steps,
        **checkpoint_record(
            recipe, arch, manifest_dict, commit, record["validation_sdr_db"], init_record
        ),
        "world_size": 1,
        "fitted_by": "unsing.models.fit_long_band",
        "fit": dataclasses.asdict(band),  # steps first, then the band's settings
    }
    if base.get("calibration"):  # the U-Net's, folded into its weights, which are unchanged
        state["calibration"] = base["calibration"]
    save_atomically(state, run_dir / "last.pt")
    return run_dir


def flag_overrides(args: argparse.Namespace) -> list[str]:
    """The long-band flags given on the command line as ``long_band.key=value`` overrides."""
    keys = [field.name for field in dataclasses.fields(LongBandSection)]
    return [
        f"long_band.{key}={json.dumps(getattr(args, key))}"
        for key in keys
        if getattr(args, key, None) is not None
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m unsing.models.fit_long_band", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--name", required=True, help="run folder under train.runs_dir")
    parser.add_argument("--init", type=Path, required=True, help="the trained model (.pt)")
    add_recipe_arguments(parser)
    flags = parser.add_argument_group(
        "long band", "each overrides a key of the recipe's long_band section (after --set)"
    )
    flags.add_argument("--steps", type=int, metavar="N", help="optimizer steps")
    flags.add_argument(
        "--window", dest="analysis_samples", type=int, metavar="SAMPLES", help="long window"
    )
    flags.add_argument("--input-hz", type=float, metavar="HZ", help="top of the band's input")
    flags.add_argument(
        "--crossover-hz",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="long band below LOW, the U-Net above HIGH",
    )
    flags.add_argument("--channels", type=int, metavar="N", help="the band's channels")
    flags.add_argument(
        "--dilations",
        type=int,
        nargs="+",
        metavar="D",
        help="the band's temporal blocks' dilations (its past: 2 x their sum frames)",
    )
    flags.add_argument(
        "--unet-input",
        action=argparse.BooleanOptionalAction,
        help="the band also reads the U-Net's mask",
    )
    flags.add_argument(
        "--random-mixes", type=int, metavar="N", help="random mixes of the training pool (0: none)"
    )
    flags.add_argument(
        "--random-mix-seconds", type=float, metavar="SECONDS", help="length of each random mix"
    )
    flags.add_argument(
        "--target",
        choices=MASK_TARGETS,
        help="the mask the band learns: ideal ratio (irm) or phase-sensitive (psm)",
    )
    args = parser.parse_args(argv)
    try:
        recipe = load_recipe(args.recipe, args.stage, [*args.overrides, *flag_overrides(args)])
        if recipe.stage is not None and not recipe.fits_long_band:
            raise ConfigError(
                f"{recipe.origin('')}: stage {recipe.stage} sets no long_band: a stage of "
                "unsing train, not of fit_long_band"
            )
        if recipe.max_steps is not None:
            raise ConfigError(
                f"stage {recipe.stage}: max_steps caps unsing train; the fit takes long_band.steps"
            )
        run_dir = fit(recipe, Path(recipe.train.runs_dir) / args.name, args.init)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"unsing: {error}", file=sys.stderr)
        return 2
    print(f"unsing: long band fitted, run saved in {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
