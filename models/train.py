"""Training: ``unsing train`` (one process) or ``torchrun --nproc_per_node N -m
unsing.models.train`` (distributed data parallel: gloo on CPU, NCCL on GPU).

Loss, chosen for the best separation at the output:
    ``L1(m |X|, |V|) + L1((1 - m) |X|, |A|)`` on magnitudes (STFT scaled by ``1 / sqrt(n_fft)``)
    ``+ w * [L1(v_hat, v) + L1(a_hat, a)]`` on waveforms, where ``v_hat = istft(m X)`` and
    ``a_hat = istft((1 - m) X)`` use the mixture's phase exactly as the live engine does.
The magnitude term trains the mask where it acts; the waveform term scores what the listener gets
(after overlap-add, mixture phase, frame overlaps), which is what SDR measures, and keeps the two
stems summing to the mixture's energy where the mask is unsure. L1 rather than L2 keeps loud
excerpts from dominating.

``train.waveform_loss: sdr`` replaces the waveform L1 by ``w * mean(-wSDR)`` over the excerpts,
the weighted SDR of Choi et al. (2019): ``wSDR = a SDR(v) + (1 - a) SDR(a)`` in dB, with ``a =
|v|^2 / (|v|^2 + |a|^2)`` the excerpt's vocal share of energy, so that a stem counts by its share
(an instrumental-only excerpt scores its accompaniment alone; the silent vocals' leaks are the
magnitude term's to fight). ``SDR = 10 log10((|s|^2 + t) / (|s - s_hat|^2 + t))`` with ``t = 1e-3
|x|^2`` (x the excerpt's mixture: SDR floored 30 dB below it, finite for silent stems). The log
makes each excerpt count alike whatever its level (as the median over items of the quality report
does), while within an excerpt the error is weighed by energy, as SDR weighs it: on held-out MIR-1K
three quarters of the mixture's energy lies below 300 Hz (bass and the voice's fundamental), and
giving the shipped model the oracle mask there alone raises its SDR by 1.8 dB, a region that L1
terms underweigh. (A plain mean of both stems' SDR let instrumental-only excerpts' silent vocals
dominate: it made the voice shy, -2 dB on MIR-1K after 250 steps.)

A run folder holds ``config.json`` (the merged configuration), ``manifest.json`` (every file
with duration and licence), ``train_log.jsonl`` (one line per epoch: losses, throughput,
validation SDR per set), ``last.pt`` (resume) and ``best.pt`` (best validation SDR). With
``train.ema_decay`` > 0 a checkpoint's ``model_state`` (what validation scores and what ships) is
the moving average of the weights (models/ema.py) and ``train_model_state`` the raw weights the
optimizer continues from. A checkpoint carries the full contract: sample rate, STFT, channels,
context and lookahead frames, architecture, seed, git commit, data manifest hash.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from unsing import __version__
from unsing.errors import ConfigError
from unsing.long_band import LongBandLayout
from unsing.models import spectral
from unsing.models.atomic_save import copy_atomically, save_atomically
from unsing.models.augment import AugmentSettings
from unsing.models.batches import EpochDraw, epoch_batches
from unsing.models.checkpoint import load_checkpoint  # noqa: F401 - part of this API
from unsing.models.data import Manifest, ValidationItem, build_training_pool, build_validation_set
from unsing.models.ema import WeightAverage
from unsing.models.metrics import sdr_db
from unsing.models.recipe import (
    WAVEFORM_LOSSES,
    Recipe,
    add_recipe_arguments,
    recipe_from_args,
)
from unsing.models.transfer import transfer_state, transferable
from unsing.models.unet import CausalUNet, UNetConfig, lookahead_aligned
from unsing.provenance import git_commit
from unsing.schema import to_jsonable
from unsing.stft import StftSpec


def unet_config(recipe: Recipe) -> UNetConfig:
    """The architecture ``recipe`` asks for (its context follows from it)."""
    train = recipe.train
    try:
        return UNetConfig(
            audio_channels=recipe.model.channels,
            bins=recipe.stft.bins,
            widths=train.widths,
            tcn_channels=train.tcn_channels,
            tcn_dilations=train.tcn_dilations,
            lookahead_frames=recipe.model.lookahead_frames,
            low_band_bins=train.low_band_bins,
            low_band_input_bins=train.low_band_input_bins,
            low_band_channels=train.low_band_channels,
            low_band_dilations=train.low_band_dilations,
        )
    except ValueError as error:  # combinations the keys' own ranges cannot catch
        raise ConfigError(
            f"{recipe.origin('train.widths')}: model.n_fft, train.widths, train.tcn_dilations "
            f"and train.low_band_* do not make a model: {error}"
        ) from None


def contract(recipe: Recipe, arch: UNetConfig) -> dict[str, Any]:
    """What a consumer of the model must agree with."""
    return {
        "sample_rate_hz": recipe.model.sample_rate_hz,
        "n_fft": recipe.stft.n_fft,
        "hop_samples": recipe.stft.hop_samples,
        "window": recipe.stft.window,
        "channels": recipe.model.channels,
        "context_frames": arch.context_frames,
        "lookahead_frames": arch.lookahead_frames,
        "mask": "vocals = mask * X, accompaniment = (1 - mask) * X (X: complex mixture STFT)",
        "unsing_version": __version__,
    }


@torch.no_grad()
def separate(model: CausalUNet, mixture: np.ndarray, spec: StftSpec) -> tuple[np.ndarray, ...]:
    """Causal separation of a whole recording, as the live engine computes it.

    Args:
        mixture: ``(channels, samples)`` float32.

    Returns:
        ``(vocals, accompaniment)``, each ``(channels, samples)`` float32.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    signal = torch.from_numpy(mixture).float()[None].to(device)
    spectrum = spectral.stft(signal, spec)
    layout = LongBandLayout.from_architecture(model.config.as_dict(), spec)
    num_samples = mixture.shape[-1]
    if layout is None:
        mask = model.mask(spectrum.abs())
        vocals = spectral.istft(mask * spectrum, spec, num_samples)[0]
        accompaniment = spectral.istft((1 - mask) * spectrum, spec, num_samples)[0]
    else:
        vocals = _separate_long_band(model, signal, spectrum, spec, layout)[0]
        accompaniment = signal[0] - vocals
    model.train(was_training)
    return vocals.cpu().numpy(), accompaniment.cpu().numpy()


def _separate_long_band(
    model: CausalUNet,
    signal: torch.Tensor,
    spectrum: torch.Tensor,
    spec: StftSpec,
    layout: LongBandLayout,
) -> torch.Tensor:
    """Vocals ``(batch, channels, samples)`` of a model with a long band (``unsing.long_band``):
    the U-Net's mask above the crossover, the long-window band's below it."""
    long_spectrum = spectral.stft(signal, layout.spec)
    magnitude = torch.cat(
        [spectrum.abs(), long_spectrum[..., : layout.input_bins, :].abs()], dim=-2
    )
    masks = model.mask(magnitude)
    mask, long_mask = masks[..., : spec.bins, :], masks[..., spec.bins :, :]
    short_weights = torch.from_numpy(layout.short_weights()).to(mask)[:, None]
    long_weights = torch.from_numpy(layout.long_weights()).to(mask)[:, None]
    low = long_spectrum[..., : layout.output_bins, :] * (long_mask * long_weights)
    long_part = torch.zeros_like(long_spectrum)
    long_part[..., : layout.output_bins, :] = low
    num_samples = signal.shape[-1]
    return spectral.istft(mask * short_weights * spectrum, spec, num_samples) + spectral.istft(
        long_part, layout.spec, num_samples
    )


def validation_scores(
    model: CausalUNet, items: list[ValidationItem], spec: StftSpec
) -> dict[str, dict[str, list[float]]]:
    """SDR (dB) of each item, per validation set and stem, in the items' order."""
    per_set: dict[str, dict[str, list[float]]] = {}
    for item in items:
        vocals, accompaniment = separate(model, item.mixture, spec)
        scores = per_set.setdefault(item.set_name, {"vocals": [], "accompaniment": []})
        scores["vocals"].append(sdr_db(item.vocals, vocals))
        scores["accompaniment"].append(sdr_db(item.accompaniment, accompaniment))
    return per_set


def median_per_set(per_set: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """Median of each set's and stem's scores, rounded to 0.001 dB."""
    return {
        name: {stem: round(float(np.median(values)), 3) for stem, values in scores.items()}
        for name, scores in per_set.items()
    }


def validate(model: CausalUNet, items: list[ValidationItem], spec: StftSpec) -> dict[str, Any]:
    """Median SDR per validation set for vocals and accompaniment."""
    return median_per_set(validation_scores(model, items, spec))


def score_of(validation: dict[str, Any]) -> float:
    """One number to pick the best checkpoint: mean SDR of both stems on MIR-1K, EIF and the
    musdb18-7s validation songs (those validated)."""
    values = [
        validation[s][stem]
        for s in ("mir1k", "eif", "musdb18_7s")
        if s in validation
        for stem in ("vocals", "accompaniment")
    ]
    return float(np.mean(values)) if values else -math.inf


#: The SDR floor of ``waveform_loss: sdr`` relative to the excerpt's mixture energy (-30 dB).
SDR_FLOOR_OF_MIXTURE = 1e-3


def sdr_db_per_excerpt(
    estimate: torch.Tensor, reference: torch.Tensor, mixture: torch.Tensor
) -> torch.Tensor:
    """SDR in dB of each excerpt, floored 30 dB below its mixture: ``(batch, channels,
    samples)`` each -> ``(batch,)``. The channels of an excerpt are scored together."""
    floor = SDR_FLOOR_OF_MIXTURE * mixture.square().sum(dim=(1, 2))
    signal = reference.square().sum(dim=(1, 2))
    error = (reference - estimate).square().sum(dim=(1, 2))
    return 10.0 * torch.log10((signal + floor + 1e-12) / (error + floor + 1e-12))


def weighted_sdr_loss_db(
    vocal_estimate: torch.Tensor,
    accompaniment_estimate: torch.Tensor,
    vocals: torch.Tensor,
    accompaniment: torch.Tensor,
) -> torch.Tensor:
    """Minus the weighted SDR in dB (module docstring), averaged over the batch; all
    ``(batch, channels, samples)``."""
    mixture = vocals + accompaniment
    vocal_energy = vocals.square().sum(dim=(1, 2))
    share = vocal_energy / (vocal_energy + accompaniment.square().sum(dim=(1, 2)) + 1e-12)
    weighted = share * sdr_db_per_excerpt(vocal_estimate, vocals, mixture) + (
        1.0 - share
    ) * sdr_db_per_excerpt(accompaniment_estimate, accompaniment, mixture)
    return -weighted.mean()


class Loss(torch.nn.Module):
    """Masked-magnitude L1 plus a weighted waveform term, L1 or SDR (see the module
    docstring)."""

    def __init__(self, spec: StftSpec, waveform_weight: float, waveform_loss: str = "l1") -> None:
        super().__init__()
        if waveform_loss not in WAVEFORM_LOSSES:
            raise ValueError(
                f"waveform_loss {waveform_loss!r}: allowed {', '.join(WAVEFORM_LOSSES)}"
            )
        self.spec = spec
        self.waveform_weight = waveform_weight
        self.waveform_loss = waveform_loss
        self.scale = 1.0 / math.sqrt(spec.n_fft)

    def forward(
        self,
        mask: torch.Tensor,
        mixture_spec: torch.Tensor,
        vocals: torch.Tensor,
        accompaniment: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """mask, mixture_spec: ``(batch, channels, bins, frames)``; stems ``(batch, channels,
        samples)``. Returns the loss and its terms."""
        spec, n = self.spec, vocals.shape[-1]
        vocal_spec = spectral.stft(vocals, spec)
        accompaniment_spec = spectral.stft(accompaniment, spec)
        magnitude = mixture_spec.abs()
        magnitude_loss = self.scale * (
            (mask * magnitude - vocal_spec.abs()).abs().mean()
            + ((1 - mask) * magnitude - accompaniment_spec.abs()).abs().mean()
        )
        total = magnitude_loss
        terms = {"magnitude": float(magnitude_loss.detach())}
        if self.waveform_weight > 0:
            vocal_estimate = spectral.istft(mask * mixture_spec, spec, n)
            accompaniment_estimate = spectral.istft((1 - mask) * mixture_spec, spec, n)
            if self.waveform_loss == "sdr":
                waveform_loss = weighted_sdr_loss_db(
                    vocal_estimate, accompaniment_estimate, vocals, accompaniment
                )
            else:
                waveform_loss = (vocal_estimate - vocals).abs().mean() + (
                    accompaniment_estimate - accompaniment
                ).abs().mean()
            total = total + self.waveform_weight * waveform_loss
            terms["waveform"] = float(waveform_loss.detach())
        return total, terms


def network_precision(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The arithmetic of the network in a training step: ``float32`` changes nothing,
    ``bfloat16`` autocasts its convolutions (forward and, through autograd, backward) to
    bfloat16. Parameters, gradients and the optimizer stay float32."""
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def optimizer_step(
    network: torch.nn.Module,
    model: CausalUNet,
    optimizer: torch.optim.Optimizer,
    loss_fn: Loss,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    precision: str,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One training step on ``batch`` = (mixture, vocals, accompaniment), each ``(batch,
    channels, samples)``: STFT, the network's passes in ``precision``, the loss, gradients
    clipped to norm 5, the optimizer's update. ``network`` is ``model`` or its distributed
    wrapper. Returns the loss and its terms."""
    mixture, vocals, accompaniment = batch
    mixture_spec = spectral.stft(mixture, loss_fn.spec)
    with network_precision(precision, mixture.device):
        mask = lookahead_aligned(network, mixture_spec.abs(), model.config.lookahead_frames)
    loss, terms = loss_fn(mask.float(), mixture_spec, vocals, accompaniment)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimizer.step()
    return loss, terms


def freeze_outside_low_band(model: CausalUNet) -> None:
    """Train the low-band network alone: every other parameter stops taking gradients and
    every other batch norm normalises with its running statistics, as at inference, so that
    the low-band network learns to correct the logits the rest computes when it runs live."""
    if model.low_band is None:
        raise ConfigError(
            "train.train_only_low_band: the model has no low-band network; set "
            "train.low_band_bins > 0"
        )
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith("low_band."))
    for name, module in model.named_modules():
        if not name.startswith("low_band") and isinstance(
            module, torch.nn.modules.batchnorm._BatchNorm
        ):
            module.eval()


def run_validation_set(recipe: Recipe, manifest: Manifest) -> list[ValidationItem]:
    """The per-epoch validation items of a run (``train.validation_*``), recorded in
    ``manifest``."""
    return build_validation_set(
        recipe.train.data_root,
        recipe.model.sample_rate_hz,
        mir1k_clips=recipe.train.validation_mir1k_clips,
        eif_seconds=recipe.train.validation_eif_seconds,
        manifest=manifest,
        musdb7s_songs=recipe.train.validation_musdb7s_songs,
    )


def checkpoint_record(
    recipe: Recipe,
    arch: UNetConfig,
    manifest: dict[str, Any],
    commit: str,
    validation_sdr_db: dict[str, Any],
    init_record: dict[str, Any] | None,
) -> dict[str, Any]:
    """What every checkpoint of a run carries besides its weights: the contract, the
    architecture, the recipe, the data manifest's digest, the code and the start it came from."""
    return {
        "architecture": arch.as_dict(),
        "contract": contract(recipe, arch),
        "seed": recipe.train.seed,
        "git_commit": commit,
        "manifest_sha1": manifest["sha1"],
        "manifest_summary": {k: v for k, v in manifest.items() if k != "entries"},
        "config": to_jsonable(recipe),
        "validation_sdr_db": validation_sdr_db,
        "torch_version": torch.__version__,
        "machine": platform.platform(),
        "init_checkpoint": init_record,
    }


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds code that uses the legacy global generator
    torch.manual_seed(seed)


def train(
    recipe: Recipe,
    run_dir: Path,
    resume: bool = False,
    max_steps: int | None = None,
    validation_items: list[ValidationItem] | None = None,
    quiet: bool = False,
    init_checkpoint: Path | None = None,
) -> Path:
    """Train (or resume) the U-Net; returns the run folder.

    Args:
        recipe: the merged configuration (its ``train`` section drives the run).
        run_dir: the run folder.
        resume: continue from ``run_dir/last.pt``.
        max_steps: stop after this many optimizer steps in total (tests, smoke runs).
        validation_items: override the validation set (tests).
        quiet: no progress bar.
        init_checkpoint: fine-tune: start from this checkpoint's weights (same architecture)
            with a fresh optimizer and schedule; recorded in every checkpoint of the run.
    """
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = (
        torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if torch.cuda.is_available()
        else torch.device("cpu")
    )
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    settings = recipe.train
    torch.set_num_threads(settings.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest convolutions
    seed_everything(settings.seed + rank)
    arch = unet_config(recipe)
    spec = recipe.stft
    rate = recipe.model.sample_rate_hz
    is_main = rank == 0
    run_dir.mkdir(parents=True, exist_ok=True)

    manifest = Manifest()
    pool = build_training_pool(
        settings.data_root,
        rate,
        manifest,
        teacher_labels=settings.teacher_labels,
        mir1k_excluded_singers=settings.calibration_singers,
        musdb18_7s=settings.musdb18_7s,
        gtsinger=settings.gtsinger,
        instrumental_folders=[settings.instrumental_folder] if settings.instrumental_folder else [],
    )
    augment = AugmentSettings(
        real_pair_probability=settings.real_pair_probability,
        pitch_shift_semitones=settings.pitch_shift_semitones,
        vocal_only_probability=settings.vocal_only_probability,
        vocal_pan=settings.vocal_pan,
        mono_accompaniment_probability=settings.mono_accompaniment_probability,
        musdb_pair_share=settings.musdb_pair_share,
    )
    if validation_items is None:
        validation_items = run_validation_set(recipe, manifest)
    manifest_dict = manifest.as_dict()
    if is_main:
        (run_dir / "manifest.json").write_text(json.dumps(manifest_dict, indent=1))
        (run_dir / "config.json").write_text(json.dumps(to_jsonable(recipe), indent=1))

    model = CausalUNet(arch).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=1e-5, foreach=True
    )
    total_steps = settings.epochs * settings.steps_per_epoch
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=settings.learning_rate,
        total_steps=total_steps,
        pct_start=0.05,
        anneal_strategy="cos",
        div_factor=10.0,
        final_div_factor=100.0,
    )
    start_epoch, step, best_score = 0, 0, -math.inf
    init_record = None
    if init_checkpoint is not None:
        init_record = _load_init(model, Path(init_checkpoint), arch)
    resumed: dict[str, Any] = {}
    if resume and (run_dir / "last.pt").is_file():
        state = resumed = torch.load(run_dir / "last.pt", map_location=device, weights_only=False)
        model.load_state_dict(state.get("train_model_state", state["model_state"]))
        optimizer.load_state_dict(state["optimizer_state"])
        schedule.load_state_dict(state["schedule_state"])
        start_epoch, step, best_score = state["epoch"] + 1, state["step"], state["best_score"]
        init_record = state.get("init_checkpoint", init_record)
    average = WeightAverage(model, settings.ema_decay) if settings.ema_decay > 0 else None
    if average is not None and "ema" in resumed:
        average.restore(resumed["ema"]["updates"], resumed["model_state"])
    trained = DistributedDataParallel(model) if distributed else model
    loss_fn = Loss(spec, settings.waveform_loss_weight, settings.waveform_loss)
    log_path = run_dir / "train_log.jsonl"
    commit = git_commit()  # the code that runs, before anyone edits the tree
    started = time.time()

    if max_steps is not None and step >= max_steps:
        start_epoch = settings.epochs  # resumed a run that already took its steps: nothing to do
    for epoch in range(start_epoch, settings.epochs):
        model.train()
        if settings.train_only_low_band:
            freeze_outside_low_band(model)
        epoch_started, losses, terms_sum = time.time(), [], {}
        progress = None if quiet or not is_main else _progress(epoch, settings.epochs)
        task = (
            progress.add_task(
                f"epoch {epoch + 1}/{settings.epochs}", total=settings.steps_per_epoch
            )
            if progress
            else None
        )
        # Seeded per epoch: a resumed run draws the same examples as an uninterrupted one.
        draw = EpochDraw(
            pool,
            rate,
            int(settings.excerpt_seconds * rate),
            settings.batch_size,
            settings.steps_per_epoch,
            settings.data_workers,
            settings.seed,
            rank,
            epoch,
            augment,
        )
        batches = epoch_batches(draw, pin_memory=device.type == "cuda")
        for cpu_batch in batches:
            batch = tuple(part.to(device, non_blocking=True) for part in cpu_batch)
            loss, terms = optimizer_step(
                trained, model, optimizer, loss_fn, batch, settings.precision
            )
            schedule.step()
            if average is not None:
                average.update(model)
            step += 1
            losses.append(loss.item())
            for name, value in terms.items():
                terms_sum[name] = terms_sum.get(name, 0.0) + value
            if progress is not None:
                seconds = time.time() - epoch_started
                rate_eps = len(losses) * settings.batch_size * world_size / max(seconds, 1e-9)
                progress.update(
                    task,
                    advance=1,
                    description=(
                        f"epoch {epoch + 1}/{settings.epochs} loss {np.mean(losses[-50:]):.4f} "
                        f"{rate_eps:.1f} ex/s"
                    ),
                )
            if max_steps is not None and step >= max_steps:
                break
        if progress is not None:
            progress.stop()
        record: dict[str, Any] = {
            "epoch": epoch,
            "step": step,
            "loss": round(float(np.mean(losses)), 5),
            **{f"loss_{k}": round(v / len(losses), 5) for k, v in terms_sum.items()},
            "learning_rate": schedule.get_last_lr()[0],
            "examples_per_s": round(
                len(losses) * settings.batch_size * world_size / (time.time() - epoch_started), 2
            ),
            "elapsed_s": round(time.time() - started, 1),
        }
        if is_main:
            shipped = model
            if average is not None:
                shipped = CausalUNet(arch).to(device)
                shipped.load_state_dict(average.state)
            record["validation_sdr_db"] = validate(shipped, validation_items, spec)
            score = score_of(record["validation_sdr_db"])
            record["score_db"] = round(score, 3)
            state = {
                "model_state": shipped.state_dict(),
                "optimizer_state": optimizer.state_dict(),
                "schedule_state": schedule.state_dict(),
                "epoch": epoch,
                "step": step,
                "best_score": max(best_score, score),
                **checkpoint_record(
                    recipe, arch, manifest_dict, commit, record["validation_sdr_db"], init_record
                ),
                "world_size": world_size,
            }
            if average is not None:
                state["train_model_state"] = model.state_dict()
                state["ema"] = {"decay": average.decay, "updates": average.updates}
            save_atomically(state, run_dir / "last.pt")
            if score > best_score:
                best_score = score
                copy_atomically(run_dir / "last.pt", run_dir / "best.pt")
            with log_path.open("a") as log:
                log.write(json.dumps(record) + "\n")
            if not quiet:
                print(json.dumps(record), flush=True)
        if max_steps is not None and step >= max_steps:
            break
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return run_dir


def _load_init(model: CausalUNet, path: Path, arch: UNetConfig) -> dict[str, Any]:
    """Load ``path``'s weights into ``model``; what to record about it in the new run."""
    if not path.is_file():
        raise ConfigError(f"--init {path}: no such checkpoint")
    state = torch.load(path, map_location="cpu", weights_only=False)
    calibration = state.get("calibration")
    if calibration:  # fine-tune the trained network; a new calibration is fitted afterwards
        from unsing.models.calibrate import without_calibration

        state["model_state"] = without_calibration(state["model_state"], calibration)
    # The look-ahead only shifts which output frame is the mask (same weights): a causal model
    # may be fine-tuned into one with look-ahead and back. Another STFT size or temporal depth
    # is warm-started by resampling the few frequency-dependent tensors (models/transfer.py).
    theirs = {k: v for k, v in state.get("architecture", {}).items() if k != "lookahead_frames"}
    ours = {k: v for k, v in arch.as_dict().items() if k != "lookahead_frames"}
    transfer = None
    if theirs == ours:
        model.load_state_dict(state["model_state"])
    else:
        source = UNetConfig.from_dict(state["architecture"]) if "architecture" in state else None
        reason = "it has no architecture" if source is None else transferable(source, arch)
        if reason is not None:
            raise ConfigError(
                f"--init {path}: its architecture {state.get('architecture')} cannot start the "
                f"configured one {arch.as_dict()} ({reason}); fine-tuning may change "
                "model.n_fft, train.tcn_dilations and model.lookahead_frames, not train.widths, "
                "train.tcn_channels or the channels"
            )
        transfer = transfer_state(state["model_state"], source, model)
    return {
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "epoch": state.get("epoch"),
        "step": state.get("step"),
        "git_commit": state.get("git_commit"),
        "config_train": state.get("config", {}).get("train"),
        "init_checkpoint": state.get("init_checkpoint"),
        "validation_sdr_db": state.get("validation_sdr_db"),
        "architecture": state.get("architecture"),
        "transfer": transfer,
        "calibration_removed": (
            {"slope": calibration["slope"], "bias": calibration["bias"]} if calibration else None
        ),
    }


def _progress(epoch: int, epochs: int) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        transient=True,
    )
    progress.start()
    return progress


def run_from_args(recipe: Recipe, args: argparse.Namespace) -> int:
    """Run training for parsed ``unsing train`` arguments (``--max-steps`` caps the stage's
    own ``max_steps``)."""
    if recipe.fits_long_band:
        raise ConfigError(
            f"{recipe.origin('')}: stage {recipe.stage} fits the long band: run it with "
            f"python -m unsing.models.fit_long_band --stage {recipe.stage} --init CKPT --name RUN"
        )
    name = args.name or time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(recipe.train.runs_dir) / name
    if (run_dir / "last.pt").exists() and not args.resume:
        raise ConfigError(
            f"{run_dir} already holds a run; pass --resume to continue it or choose another --name"
        )
    caps = [steps for steps in (recipe.max_steps, args.max_steps) if steps is not None]
    train(
        recipe,
        run_dir,
        resume=args.resume,
        max_steps=min(caps) if caps else None,
        quiet=args.quiet,
        init_checkpoint=Path(args.init) if getattr(args, "init", None) else None,
    )
    print(f"unsing: run saved in {run_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m unsing.models.train`` (what torchrun launches)."""
    parser = argparse.ArgumentParser(prog="python -m unsing.models.train")
    add_recipe_arguments(parser)
    parser.add_argument("--name", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--init", default=None)
    args = parser.parse_args(argv)
    try:
        return run_from_args(recipe_from_args(args), args)
    except ConfigError as error:
        print(f"unsing: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
