"""Training recipes (models/recipe.py): the shipped recipe and its stages reproduce the shipped
chain's settings; every mistake is one line naming the file and the key."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, require_module

from unsing.errors import ConfigError
from unsing.models.recipe import default_recipe_path, load_recipe

SHIPPED = default_recipe_path()

#: The train section of config.yaml before the recipes (commit 78bcaab), whose values the
#: shipped chain trained with (low_band_mode has gone since: only "add" was kept).
OLD_TRAIN = {
    "seed": 1234,
    "excerpt_seconds": 2.0,
    "batch_size": 12,
    "learning_rate": 0.002,
    "epochs": 8,
    "steps_per_epoch": 250,
    "threads": 2,
    "data_workers": 0,
    "widths": (8, 16, 24, 32),
    "tcn_channels": 192,
    "tcn_dilations": (1, 2, 4, 8, 16),
    "low_band_bins": 0,
    "low_band_input_bins": 64,
    "low_band_channels": 128,
    "low_band_dilations": (1, 2, 4, 8),
    "train_only_low_band": False,
    "calibration_singers": (),
    "waveform_loss": "l1",
    "waveform_loss_weight": 0.2,
    "real_pair_probability": 0.35,
    "pitch_shift_semitones": 0.0,
    "vocal_only_probability": 0.0,
    "vocal_pan": 0.3,
    "mono_accompaniment_probability": 0.0,
    "precision": "float32",
    "ema_decay": 0.999,
    "teacher_labels": None,
    "validation_mir1k_clips": 24,
    "validation_eif_seconds": 60.0,
    # keys added since (issue 31), off: the data the shipped chain trained on
    "musdb18_7s": False,
    "musdb_pair_share": 0.0,
    "gtsinger": False,
    "instrumental_folder": None,
    "validation_musdb7s_songs": 0,
}

#: What scripts/train_default.sh passed as flags before the recipes (commit 78bcaab), with
#: PRECISION float32: (the stage's --max-steps, its --set overrides).
OLD_CHAIN = {
    "v2": (1750, ["train.ema_decay=0", "train.precision=float32"]),
    "v3": (
        None,
        [
            "train.seed=1235",
            "train.learning_rate=0.001",
            "train.epochs=6",
            "train.ema_decay=0",
            "train.precision=float32",
        ],
    ),
    "v6": (
        None,
        [
            "train.seed=1240",
            "train.learning_rate=0.002",
            "train.epochs=4",
            "train.precision=bfloat16",
            "train.low_band_bins=16",
            "train.train_only_low_band=true",
            "train.real_pair_probability=1.0",
            "train.calibration_singers=[ariel, davidson, jmzen, titon]",
        ],
    ),
}


def write(folder: Path, text: str, name: str = "recipe.yaml") -> Path:
    """A recipe file that extends the shipped one (unless it says otherwise)."""
    path = folder / name
    path.write_text(text if "extends:" in text else f"extends: {SHIPPED}\n{text}")
    return path


def test_the_shipped_recipe_loads_and_its_base_is_the_old_train_section() -> None:
    recipe = load_recipe()
    assert recipe.stage is None and recipe.max_steps is None and not recipe.fits_long_band
    assert dataclasses.asdict(recipe.train) == {
        **OLD_TRAIN,
        "data_root": recipe.train.data_root,
        "runs_dir": recipe.train.runs_dir,
    }
    # the old config's ../shared/data and runs/ of the checkout, now relative to the recipe
    assert recipe.train.data_root.resolve() == (PROJECT_ROOT / "../shared/data").resolve()
    assert recipe.train.runs_dir.resolve() == (PROJECT_ROOT / "runs").resolve()
    model = recipe.model
    assert (model.sample_rate_hz, model.channels, model.lookahead_frames) == (44100, 2, 0)
    assert (recipe.stft.n_fft, recipe.stft.hop_samples, recipe.stft.window) == (1024, 256, "hann")
    assert recipe.origin("train.seed") == str(SHIPPED)


@pytest.mark.parametrize("stage", ["v2", "v3", "v6"])
def test_the_shipped_stages_set_what_the_old_flag_chain_set(stage: str) -> None:
    max_steps, overrides = OLD_CHAIN[stage]
    recipe = load_recipe(SHIPPED, stage)
    old = load_recipe(SHIPPED, overrides=overrides)
    assert (recipe.model, recipe.train) == (old.model, old.train)
    assert recipe.max_steps == max_steps and recipe.stage == stage
    assert not recipe.fits_long_band


def test_the_long_band_stage_sets_what_the_old_fit_long_band_flags_set() -> None:
    # fit_long_band's argparse defaults before the recipes, then the chain's stage-5 flags:
    # --unet-input --target psm --steps 4000 --dilations 1 2 4 8 16 --set train.threads=2
    base = load_recipe().long_band
    assert dataclasses.asdict(base) == {
        "steps": 3000,
        "analysis_samples": 4096,
        "input_hz": 2700.0,
        "crossover_hz": (600.0, 750.0),
        "channels": 128,
        "dilations": (1, 2, 4, 8),
        "unet_input": False,
        "random_mixes": 0,
        "random_mix_seconds": 4.0,
        "target": "irm",
    }
    recipe = load_recipe(stage="v7")
    assert recipe.fits_long_band and recipe.max_steps is None
    assert recipe.long_band == dataclasses.replace(
        base, steps=4000, dilations=(1, 2, 4, 8, 16), unet_input=True, target="psm"
    )
    assert (recipe.model, recipe.train) == (load_recipe().model, load_recipe().train)
    assert recipe.train.threads == 2


def test_every_stage_validates_when_any_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "stages:\n  good: {train: {seed: 3}}\n  bad: {train: {seed: -1}}\n",
    )
    with pytest.raises(ConfigError, match=r"\(stage bad\): train\.seed = -1: out of range"):
        load_recipe(path, "good")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "model: {n_ft: 512}\n",
            r"recipe\.yaml: unknown key 'model\.n_ft'; did you mean 'model\.n_fft'\?",
        ),
        (
            "train: {learning_rat: 0.1}\n",
            r"recipe\.yaml: unknown key 'train\.learning_rat'; did you mean "
            r"'train\.learning_rate'\?",
        ),
        (
            "long_band: {step: 5}\n",
            r"recipe\.yaml: unknown key 'long_band\.step'; did you mean 'long_band\.steps'\?",
        ),
        (
            "stages:\n  v9: {trian: {seed: 3}}\n",
            r"recipe\.yaml: unknown key 'stages\.v9\.trian'; did you mean 'stages\.v9\.train'\?",
        ),
        (
            "stages:\n  v9: {train: {sed: 3}}\n",
            r"recipe\.yaml \(stage v9\): unknown key 'train\.sed'; did you mean 'train\.seed'\?",
        ),
        (
            "stage:\n  v9: {train: {seed: 3}}\n",
            r"recipe\.yaml: unknown key 'stage'; did you mean 'stages'\?",
        ),
        (
            "trian: {seed: 3}\n",
            r"recipe\.yaml: unknown key 'trian'; did you mean 'train'\?",
        ),
    ],
)
def test_unknown_keys_are_one_line_errors_naming_the_file_and_the_key(
    tmp_path: Path, text: str, match: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=f"^{re.escape(str(tmp_path))}/{match}") as error:
        load_recipe(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("model: {n_fft: 16}\n", r"model\.n_fft = 16: out of range \(.*from 32 to 16384\)"),
        ("train: {learning_rate: 5}\n", r"train\.learning_rate = 5\.0: out of range"),
        ("train: {widths: []}\n", r"train\.widths = \[\]: must list at least one value"),
        ("train: {precision: float16}\n", r"train\.precision = 'float16': not allowed"),
        ("model: {window: hanning}\n", r"model\.window = 'hanning': not allowed; did you mean"),
        ("train: {epochs: many}\n", r"train\.epochs = 'many': wrong type"),
        ("stages:\n  v9: {max_steps: 0}\n", r"stages\.v9\.max_steps = 0: a whole number >= 1"),
        ("stages:\n  v9: {about: [a]}\n", r"stages\.v9\.about = \['a'\]: must be a sentence"),
        ("stages: [v2]\n", r"stages: must be a mapping of stage names"),
        ("stages:\n  v9: 3\n", r"stages\.v9: must be a mapping"),
    ],
)
def test_out_of_range_values_are_one_line_errors(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as error:
        load_recipe(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_a_hop_that_does_not_divide_n_fft_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "model: {n_fft: 1000, hop_samples: 384}\n")
    with pytest.raises(
        ConfigError, match=r"recipe\.yaml: model\.hop_samples = 384: must divide model\.n_fft"
    ):
        load_recipe(path)
    with pytest.raises(ConfigError, match=r"^command line: model\.hop_samples = 300"):
        load_recipe(overrides=["model.hop_samples=300"])
    with pytest.raises(ConfigError, match="do not overlap enough"):
        load_recipe(overrides=["model.hop_samples=1024"])


def test_a_stage_that_does_not_exist_lists_the_stages() -> None:
    stages = r"\(stages: v2, v3, v6, v7\)"
    with pytest.raises(ConfigError, match=rf"default\.yaml: no stage 'v4' {stages}"):
        load_recipe(stage="v4")


def test_overrides_come_last_and_say_command_line() -> None:
    recipe = load_recipe(stage="v3", overrides=["train.seed=7", "model.lookahead_frames=2"])
    assert recipe.train.seed == 7 and recipe.model.lookahead_frames == 2
    assert recipe.origin("train.seed") == "command line"
    assert recipe.origin("train.epochs") == f"{SHIPPED} (stage v3)"
    assert recipe.origin("train.batch_size") == str(SHIPPED)
    with pytest.raises(ConfigError, match=r"^command line: train\.seed = -3: out of range"):
        load_recipe(stage="v3", overrides=["train.seed=-3"])
    with pytest.raises(ConfigError, match=r"^command line: unknown key 'train\.sed'; did you"):
        load_recipe(overrides=["train.sed=3"])
    # keys the model file owns at run time are no training settings
    with pytest.raises(ConfigError, match=r"^command line: unknown key 'audio'"):
        load_recipe(overrides=["audio.blocksize_samples=512"])


def test_a_recipe_extends_another_and_its_relative_paths_follow_each_file(tmp_path: Path) -> None:
    base = write(
        tmp_path,
        f"extends: {SHIPPED}\ntrain: {{seed: 5, data_root: data}}\n"
        "stages:\n  only-in-base: {train: {epochs: 1}}\n",
        "base.yaml",
    )
    (tmp_path / "lab").mkdir()
    top = write(
        tmp_path / "lab",
        "extends: ../base.yaml\ntrain: {epochs: 3, runs_dir: runs}\n"
        "stages:\n  mine: {model: {n_fft: 512, hop_samples: 128}}\n",
    )
    recipe = load_recipe(top, "mine")
    assert (recipe.train.seed, recipe.train.epochs, recipe.model.n_fft) == (5, 3, 512)
    assert recipe.train.data_root == tmp_path / "data"
    assert recipe.train.runs_dir == tmp_path / "lab" / "runs"
    assert recipe.origin("train.seed") == str(base)
    assert recipe.origin("train.epochs") == str(top)
    assert recipe.origin("train.batch_size") == str(SHIPPED)
    assert recipe.origin("model.n_fft") == f"{top} (stage mine)"
    # the stages are the file's own
    with pytest.raises(ConfigError, match=r"no stage 'only-in-base' \(stages: mine\)"):
        load_recipe(top, "only-in-base")
    with pytest.raises(ConfigError, match=r"no stage 'v2' \(stages: only-in-base\)"):
        load_recipe(base, "v2")
    looping = write(tmp_path, "extends: recipe.yaml\n")
    with pytest.raises(ConfigError, match="extending in a circle"):
        load_recipe(looping)
    missing = write(tmp_path, "extends: nope.yaml\n", "missing.yaml")
    with pytest.raises(ConfigError, match=r"nope\.yaml: recipe file not found"):
        load_recipe(missing)


def test_a_recipe_that_extends_nothing_must_state_every_section(tmp_path: Path) -> None:
    path = tmp_path / "bare.yaml"
    path.write_text("train: {seed: 3}\n")
    with pytest.raises(ConfigError, match=r"bare\.yaml: missing section 'model'"):
        load_recipe(path)


@pytest.mark.parametrize(
    ("stage", "changed"),
    [
        ("n1024-h256", {}),
        ("n512-h128", {"model.n_fft": 512, "model.hop_samples": 128}),
        ("n2048-h512", {"model.n_fft": 2048, "model.hop_samples": 512}),
        ("n1024-h128", {"model.hop_samples": 128}),
        ("n1024-h256-c49", {"train.tcn_dilations": (1, 2, 4, 8)}),
        ("n1024-h256-la4", {"model.lookahead_frames": 4}),
    ],
)
def test_the_sweep_recipe_is_the_old_sweep_flags(stage: str, changed: dict) -> None:
    # scripts/train_sweep.sh before the recipes: --set train.seed=1236 --set
    # train.learning_rate=0.001 --set train.epochs=2 --set train.ema_decay=0, plus the point's
    schedule = ["train.seed=1236", "train.learning_rate=0.001", "train.epochs=2"]
    point = [f"{key}={list(v) if isinstance(v, tuple) else v}" for key, v in changed.items()]
    old = load_recipe(overrides=[*schedule, "train.ema_decay=0", *point])
    recipe = load_recipe(PROJECT_ROOT / "lab" / "recipes" / "sweep.yaml", stage)
    assert (recipe.model, recipe.train) == (old.model, old.train)


def test_the_wide_recipe_is_the_old_wide_flags() -> None:
    old = load_recipe(
        overrides=[
            "train.widths=[16,32,48,64]",
            "train.precision=bfloat16",
            "train.epochs=14",
            f"train.teacher_labels={PROJECT_ROOT / 'runs' / 'teacher-spleeter'}",
        ]
    )
    recipe = load_recipe(PROJECT_ROOT / "lab" / "recipes" / "wide.yaml")
    assert recipe.model == old.model
    assert dataclasses.replace(recipe.train, teacher_labels=None) == dataclasses.replace(
        old.train, teacher_labels=None
    )
    assert recipe.train.teacher_labels.resolve() == old.train.teacher_labels.resolve()


def test_unsing_train_with_a_stage_that_does_not_exist_is_one_line(capsys) -> None:
    from unsing.cli import main

    assert main(["train", "--recipe", str(SHIPPED), "--stage", "nope"]) == 1
    error = capsys.readouterr().err.strip()
    assert error == f"unsing: error: {SHIPPED}: no stage 'nope' (stages: v2, v3, v6, v7)"
    assert main(["train", "--recipe", str(SHIPPED), "--set", "train.seed=x"]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_unsing_train_refuses_the_long_band_stage(capsys) -> None:
    require_module("torch")
    from unsing.cli import main

    assert main(["train", "--stage", "v7", "--name", "never"]) == 1
    error = capsys.readouterr().err
    assert "stage v7 fits the long band" in error and "fit_long_band --stage v7" in error
    assert not (PROJECT_ROOT / "runs" / "never").exists()
