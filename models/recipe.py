"""Training recipes: the settings that make a model, in YAML files (``models/recipes/``).

A recipe has these sections:

* ``model``: the contract the trained model will carry (sample rate, channels, STFT, look-ahead;
  the context follows from the architecture): what the runtime later reads from the model file;
* ``train``: every training setting (data, schedule, architecture, loss, augmentation,
  validation), documented in docs/training.md;
* ``long_band``: the long-window band fitted alone on a trained model
  (``python -m unsing.models.fit_long_band``; its seed, peak learning rate, threads, data and
  validation come from ``train``);
* ``stages``: named stages of a chain (``unsing train --recipe FILE --stage NAME``): each
  overrides keys of ``model``/``train`` and may cap the optimizer steps (``max_steps``). A stage
  that sets ``long_band`` is a stage of ``fit_long_band`` (``--stage NAME`` there), not of
  ``unsing train``;
* ``extends`` (optional): another recipe file (relative to this one) whose ``model``, ``train``
  and ``long_band`` this file's sections override; its stages are not inherited. Experiments
  (``lab/recipes/``) state only what they change from the shipped recipe.

Validated like the runtime config (``unsing.schema``): types, ranges, unknown keys with a "did
you mean", one-line errors naming the file and the key. ``--set section.key=value`` comes last.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unsing.errors import ConfigError
from unsing.schema import (
    load_tree_data,
    origin_of,
    read_yaml,
    unknown_key_message,
    with_base_dir,
)
from unsing.schema import setting as _key
from unsing.stft import WINDOWS, StftSpec, window_overlap_ok

WAVEFORM_LOSSES = ("l1", "sdr")
TRAIN_PRECISIONS = ("float32", "bfloat16")
#: The masks a long band can learn (``fit_long_band.mask_target``).
MASK_TARGETS = ("irm", "psm")
#: The sections a recipe file and a stage may set.
SECTIONS = ("model", "train", "long_band")
#: Top-level keys of a recipe file, and keys a stage may set.
RECIPE_KEYS = ("extends", *SECTIONS, "stages")
STAGE_KEYS = ("about", "max_steps", *SECTIONS)


def default_recipe_path() -> Path:
    """The shipped model's recipe (package data beside this module)."""
    return Path(__file__).resolve().parent / "recipes" / "default.yaml"


@dataclass(frozen=True)
class ModelSection:
    """The contract the trained model carries (its ONNX file states it to the runtime)."""

    sample_rate_hz: int = _key("audio sample rate", min=8000, max=192000)
    channels: int = _key("audio channels the model masks", choices=(1, 2))
    n_fft: int = _key("STFT window length in samples", min=32, max=16384)
    hop_samples: int = _key("hop between STFT frames in samples", min=8, max=16384)
    window: str = _key("STFT analysis window (periodic)", choices=WINDOWS)
    lookahead_frames: int = _key("future frames per masked frame (latency)", min=0, max=64)


@dataclass(frozen=True)
class TrainConfig:
    """How a stage trains: data, schedule, architecture, loss, augmentation, validation."""

    data_root: Path = _key("training/validation audio folder", path=True)  # noqa: RUF009
    runs_dir: Path = _key("where runs (checkpoints, logs) are written", path=True)  # noqa: RUF009
    seed: int = _key("random seed", min=0, max=2**31 - 1)
    excerpt_seconds: float = _key("training excerpt length", min=0.25, max=60.0)
    batch_size: int = _key("excerpts per step (per process)", min=1, max=1024)
    learning_rate: float = _key("peak Adam learning rate", min=1e-6, max=1.0)
    epochs: int = _key("epochs", min=1, max=100000)
    steps_per_epoch: int = _key("optimizer steps per epoch", min=1, max=1000000)
    threads: int = _key("torch CPU threads", min=1, max=256)
    data_workers: int = _key(
        "processes drawing the random mixes (0: the training process)", min=0, max=256
    )
    widths: tuple[int, ...] = _key("U-Net channels per level", min=1, max=1024)
    tcn_channels: int = _key("temporal stack channels", min=1, max=4096)
    tcn_dilations: tuple[int, ...] = _key("temporal stack dilations", min=1, max=1024)
    low_band_bins: int = _key(
        "bins whose mask logits the low-band network corrects (0: no such network)",
        min=0,
        max=64,
    )
    low_band_input_bins: int = _key(
        "lowest bins the low-band network reads (at least low_band_bins)", min=1, max=512
    )
    low_band_channels: int = _key("channels of the low-band network", min=1, max=4096)
    low_band_dilations: tuple[int, ...] = _key(
        "dilations of the low-band network's temporal stack", min=1, max=1024
    )
    train_only_low_band: bool = _key(
        "train the low-band network alone, the rest of the model frozen (batch norms included)"
    )
    calibration_singers: tuple[str, ...] = _key(
        "MIR-1K training singers kept out of training, for the calibration alone"
    )
    waveform_loss: str = _key("waveform term of the loss", choices=WAVEFORM_LOSSES)
    waveform_loss_weight: float = _key("weight of the waveform term", min=0.0, max=1000.0)
    real_pair_probability: float = _key(
        "share of examples cut from a real song's own stems (the rest: random mixes)",
        min=0.0,
        max=1.0,
    )
    pitch_shift_semitones: float = _key(
        "random mixes: voice resampled up or down by up to this many semitones (0: off)",
        min=0.0,
        max=12.0,
    )
    vocal_only_probability: float = _key(
        "share of voice-only examples (accompaniment silent; 0: off)", min=0.0, max=0.9
    )
    vocal_pan: float = _key(
        "largest pan position of the voice (uniform in -vocal_pan .. vocal_pan; 1: hard side)",
        min=0.0,
        max=1.0,
    )
    mono_accompaniment_probability: float = _key(
        "share of examples whose accompaniment is collapsed to mono (0: off)", min=0.0, max=1.0
    )
    precision: str = _key("arithmetic of the network in training steps", choices=TRAIN_PRECISIONS)
    ema_decay: float = _key(
        "moving-average decay of the shipped weights (0: off)", min=0.0, max=0.99999
    )
    teacher_labels: Path | None = _key(  # noqa: RUF009
        "teacher-labelled songs (python -m unsing.models.teacher); null: none", path=True
    )
    musdb18_7s: bool = _key(
        "train on the musdb18-7s training songs (real pairs and random-mix material)"
    )
    musdb_pair_share: float = _key(
        "share of the real-pair examples drawn from musdb18-7s songs (0: every pair alike)",
        min=0.0,
        max=1.0,
    )
    gtsinger: bool = _key("GTSinger's dry singing as random-mix voices")
    instrumental_folder: Path | None = _key(  # noqa: RUF009
        "folder of instrumental music (searched recursively) as accompaniments; null: none",
        path=True,
    )
    validation_mir1k_clips: int = _key("MIR-1K clips validated per epoch", min=1, max=10000)
    validation_eif_seconds: float = _key(
        "seconds of the held-out track per epoch", min=1.0, max=10000.0
    )
    validation_musdb7s_songs: int = _key(
        "musdb18-7s validation songs scored per epoch (and in the best-checkpoint score)",
        min=0,
        max=14,
    )


@dataclass(frozen=True)
class LongBandSection:
    """The long-window band ``fit_long_band`` adds to a trained model and fits alone: the
    window, what the band reads and outputs, its network, its material and target, and the
    optimizer steps. Stored whole in the fitted checkpoint (``fit``)."""

    steps: int = _key("optimizer steps of the fit (one-cycle schedule)", min=1, max=10_000_000)
    analysis_samples: int = _key(
        "long analysis window in samples (a multiple of model.hop_samples, >= model.n_fft)",
        min=64,
        max=65536,
    )
    input_hz: float = _key("top of the band's input, Hz", min=1.0, max=96000.0)
    crossover_hz: tuple[float, ...] = _key(
        "[LOW, HIGH]: the band's mask below LOW Hz, the U-Net's above HIGH", min=0.0, max=96000.0
    )
    channels: int = _key("channels of the band's temporal stack", min=1, max=4096)
    dilations: tuple[int, ...] = _key(
        "dilations of the band's temporal blocks (its past: 2 x their sum frames)", min=1, max=1024
    )
    unet_input: bool = _key("the band also reads the U-Net's mask")
    random_mixes: int = _key(
        "random mixes of the training pool added to the real pairs (0: none)", min=0, max=100000
    )
    random_mix_seconds: float = _key("length of each random mix", min=1.0, max=600.0)
    target: str = _key(
        "the mask it learns: ideal ratio (irm) or phase-sensitive (psm)", choices=MASK_TARGETS
    )


@dataclass(frozen=True)
class Recipe:
    """One stage of a recipe, resolved: the model it makes and how it trains."""

    model: ModelSection
    train: TrainConfig
    long_band: LongBandSection
    #: Where each ``section.key`` came from (the recipe file, its stage, ``--set``).
    origins: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)
    #: The stage's name (None: the recipe's base settings) and its step cap.
    stage: str | None = None
    max_steps: int | None = None
    #: The stage sets ``long_band``: a stage of ``fit_long_band``, not of ``unsing train``.
    fits_long_band: bool = False

    def origin(self, key: str) -> str:
        """Where the value of dotted ``key`` came from."""
        return origin_of(self.origins, key)

    @property
    def stft(self) -> StftSpec:
        """The STFT of the model this recipe makes."""
        return StftSpec(self.model.n_fft, self.model.hop_samples, self.model.window)


def load_recipe(
    path: str | Path | None = None,
    stage: str | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
) -> Recipe:
    """Load recipe ``path`` (default: the shipped model's), at ``stage`` (None: its base
    settings), with ``overrides`` (``"train.key=value"``) applied last. Every stage of the file
    is validated, so a typo in any of them fails here.

    Raises:
        ConfigError: one line naming the file, the stage and key, and what is allowed.
    """
    path = Path(path).expanduser() if path is not None else default_recipe_path()
    layers, stages = _read_recipe(path, ())
    source = str(path)
    for name, settings in stages.items():
        _check_stage(source, str(name), settings)
        _resolve(source, layers, str(name), settings, ())  # every stage must validate
    if stage is not None and stage not in stages:
        allowed = ", ".join(map(str, stages)) or "none"
        raise ConfigError(f"{source}: no stage '{stage}' (stages: {allowed})")
    return _resolve(source, layers, stage, stages.get(stage, {}), overrides)


def _read_recipe(
    path: Path, extending: tuple[Path, ...]
) -> tuple[list[tuple[dict[str, Any], str]], dict[str, Any]]:
    """The layers of sections of recipe ``path`` (those of the file it extends first) and its
    own stages."""
    data = with_base_dir(read_yaml(path, "recipe"), path.resolve().parent)
    source = str(path)
    for key in data:
        if key not in RECIPE_KEYS:
            raise ConfigError(unknown_key_message(str(key), "", RECIPE_KEYS, source))
    stages = data.pop("stages", None) or {}
    if not isinstance(stages, dict):
        raise ConfigError(f"{source}: stages: must be a mapping of stage names, got {stages!r}")
    layers = []
    base = data.pop("extends", None)
    if base is not None:
        if not isinstance(base, str) or not base:
            raise ConfigError(f"{source}: extends = {base!r}: must be a recipe file's path")
        base_path = Path(base).expanduser()
        if not base_path.is_absolute():
            base_path = path.parent / base_path
            tidy = Path(os.path.normpath(base_path))  # models/x.yaml, not lab/../models/x.yaml
            if tidy.resolve() == base_path.resolve():
                base_path = tidy
        chain = (*extending, path.resolve())
        if base_path.resolve() in chain:
            raise ConfigError(f"{source}: extends = {base!r}: recipes extending in a circle")
        layers, _ = _read_recipe(base_path, chain)
    return [*layers, (data, source)], stages


def _check_stage(source: str, name: str, settings: Any) -> None:
    if not isinstance(settings, dict):
        raise ConfigError(f"{source}: stages.{name}: must be a mapping, got {settings!r}")
    for key in settings:
        if key not in STAGE_KEYS:
            raise ConfigError(unknown_key_message(str(key), f"stages.{name}.", STAGE_KEYS, source))
    about = settings.get("about")
    if about is not None and not isinstance(about, str):
        raise ConfigError(f"{source}: stages.{name}.about = {about!r}: must be a sentence")
    max_steps = settings.get("max_steps")
    if max_steps is not None and (
        isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1
    ):
        raise ConfigError(f"{source}: stages.{name}.max_steps = {max_steps!r}: a whole number >= 1")


def _resolve(
    source: str,
    layers: Sequence[tuple[dict[str, Any], str]],
    stage: str | None,
    settings: dict[str, Any],
    overrides: Sequence[str] | Mapping[str, Any],
) -> Recipe:
    layers = list(layers)
    if stage is not None:
        sections = {key: settings[key] for key in SECTIONS if key in settings}
        layers.append((sections, f"{source} (stage {stage})"))
    built, origins = load_tree_data(Recipe, layers, overrides)
    recipe = Recipe(
        **built,
        origins=origins,
        stage=stage,
        max_steps=settings.get("max_steps"),
        fits_long_band="long_band" in settings,
    )
    model = recipe.model
    if model.hop_samples > model.n_fft or model.n_fft % model.hop_samples or model.n_fft % 2:
        raise ConfigError(
            f"{recipe.origin('model.hop_samples')}: model.hop_samples = {model.hop_samples}: "
            f"must divide model.n_fft = {model.n_fft} (even) evenly"
        )
    if not window_overlap_ok(model.window, model.n_fft, model.hop_samples):
        raise ConfigError(
            f"{recipe.origin('model.window')}: model.window = {model.window!r}: with hop "
            f"{model.hop_samples} the windows do not overlap enough to reconstruct the signal"
        )
    crossover = recipe.long_band.crossover_hz
    if len(crossover) != 2 or not crossover[0] < crossover[1]:
        raise ConfigError(
            f"{recipe.origin('long_band.crossover_hz')}: long_band.crossover_hz = "
            f"{list(crossover)}: must be [LOW, HIGH] with LOW < HIGH"
        )
    return recipe


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """``--recipe``, ``--stage`` and ``--set``: which training settings a command uses."""
    parser.add_argument(
        "--recipe",
        type=Path,
        default=None,
        metavar="FILE",
        help="training recipe (default: the shipped model's, models/recipes/default.yaml)",
    )
    parser.add_argument(
        "--stage", default=None, metavar="NAME", help="a stage of the recipe (default: its base)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one recipe key, e.g. --set train.seed=7 (repeatable)",
    )


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    """The recipe that ``--recipe``/``--stage``/``--set`` name."""
    return load_recipe(args.recipe, args.stage, args.overrides)
