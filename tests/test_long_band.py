"""The long-window low band: its STFT (exact, streaming = one-shot, same latency), the crossover,
the network inside the U-Net (streaming = whole sequence), separation and fitting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module

from unsing.long_band import LongBandLayout, raised_cosine_low
from unsing.stft import LongWindowSpec, StftSpec, StreamingIstft, StreamingStft, istft, stft

SHORT = StftSpec(1024, 256, "hann")
#: A tiny long band to fit on test_train's synthetic data tree (recipe overrides).
TINY_BAND = [
    "long_band.steps=4",
    "long_band.analysis_samples=4096",
    "long_band.input_hz=1500",
    "long_band.crossover_hz=[400, 600]",
    "long_band.channels=4",
    "long_band.dilations=[1, 2]",
]


def _signal(samples: int = 20000, channels: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((channels, samples))


@pytest.mark.parametrize("analysis_samples", [1024, 2048, 4096])
def test_long_window_stft_reconstructs_exactly(analysis_samples: int) -> None:
    spec = LongWindowSpec(analysis_samples, SHORT)
    x = _signal()
    spectrum = stft(x, spec)
    assert spectrum.shape == (2, analysis_samples // 2 + 1, SHORT.frame_count(x.shape[-1]))
    np.testing.assert_allclose(istft(spectrum, spec, x.shape[-1]), x, atol=1e-12)


def test_long_window_frames_end_where_the_project_frames_end() -> None:
    """A click at sample s is in frame t of both STFTs exactly when (t+1)*hop > s: the long
    window only reaches further into the past, never into the future (no added latency)."""
    spec = LongWindowSpec(4096, SHORT)
    x = np.zeros(20000)
    x[10000] = 1.0
    for s in (SHORT, spec):
        energy = np.abs(stft(x, s)).sum(axis=0)
        first = int(np.flatnonzero(energy > 0)[0])
        assert first == 10000 // 256  # frame 39 holds samples up to 10239
    assert np.flatnonzero(np.abs(stft(x, spec)).sum(0) > 0)[-1] == (10000 + 4096) // 256 - 1


def test_long_window_streaming_equals_one_shot_with_the_project_latency() -> None:
    spec = LongWindowSpec(4096, SHORT)
    x = _signal()
    padded = np.pad(x, ((0, 0), (0, 8 * 256)))
    analysis, synthesis = StreamingStft(spec, 2), StreamingIstft(spec, 2)
    frames, out = [], []
    for t in range(padded.shape[1] // 256):
        frame = analysis.process(padded[:, t * 256 : (t + 1) * 256]).copy()
        frames.append(frame)
        out.append(synthesis.process(frame).copy())
    one_shot = stft(x, spec)
    np.testing.assert_allclose(np.stack(frames, -1)[..., : one_shot.shape[-1]], one_shot)
    lag = SHORT.stream_delay_samples  # 768: as the project STFT's stream
    np.testing.assert_allclose(np.concatenate(out, -1)[:, lag : lag + x.shape[1]], x, atol=1e-12)


def test_torch_long_window_stft_matches_numpy() -> None:
    torch = require_module("torch")
    from unsing.models import spectral

    spec = LongWindowSpec(4096, SHORT)
    x = _signal()
    expected = stft(x, spec)
    got = spectral.stft(torch.from_numpy(x), spec).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-9)
    back = spectral.istft(torch.from_numpy(expected), spec, x.shape[-1]).numpy()
    np.testing.assert_allclose(back, x, atol=1e-12)


@pytest.mark.parametrize("segment_frames", [1, 7, 64, 10000])
def test_torch_stft_in_segments_equals_the_whole_stft(segment_frames: int) -> None:
    torch = require_module("torch")
    from unsing.models import spectral

    x = torch.from_numpy(_signal(samples=9000))
    for spec in (SHORT, LongWindowSpec(4096, SHORT)):
        whole = spectral.stft(x, spec)
        firsts, parts = zip(*spectral.stft_segments(x, spec, segment_frames), strict=True)
        assert firsts == tuple(range(0, whole.shape[-1], segment_frames))
        torch.testing.assert_close(torch.cat(parts, dim=-1), whole, rtol=0, atol=1e-9)


def test_long_band_features_are_the_same_in_segments_and_free_the_clips() -> None:
    """The fit's features, written clip by clip in segments, equal features of the whole
    clips computed directly (mono clips fed to both channels, stereo clips as they are)."""
    torch = require_module("torch")
    from unsing.models import spectral
    from unsing.models.fit_long_band import long_band_examples

    model = _long_band_model(unet_input=True)
    layout = LongBandLayout.from_architecture(model.config.as_dict(), SHORT)
    rng = np.random.default_rng(3)
    clips = [
        (rng.standard_normal((1, 9000)), rng.standard_normal((1, 9000))),
        (rng.standard_normal((2, 6000)), 0.1 * rng.standard_normal((2, 6000))),
    ]
    whole = long_band_examples(layout, 2, list(clips), model, segment_frames=10**6)
    given = list(clips)
    segmented = long_band_examples(layout, 2, given, model, segment_frames=5)
    assert given == []  # each clip's audio is let go once its features are in
    for name in whole:
        torch.testing.assert_close(segmented[name], whole[name], rtol=1e-6, atol=1e-6)
    # the first clip's rows against a direct computation of its inputs, target and weight
    frames = SHORT.frame_count(9000)
    assert whole["clip"].tolist() == [0] * frames + [1] * SHORT.frame_count(6000)
    vocals, accompaniment = (torch.from_numpy(np.repeat(c, 2, 0)).float() for c in clips[0])
    spectra = spectral.stft(torch.stack([vocals, accompaniment]), layout.spec)
    mixture = (spectra[0] + spectra[1]).abs()
    out = layout.output_bins
    power = mixture[:, :out].square()
    irm = spectra[0, :, :out].abs() / (spectra[0, :, :out].abs() + spectra[1, :, :out].abs() + 1e-8)
    expected = {
        "inputs": mixture[:, : layout.input_bins],
        "target": irm,
        "weight": power / power.mean(),
    }
    for name, value in expected.items():
        got = whole[name][:frames].permute(1, 2, 0)
        torch.testing.assert_close(got, value, rtol=1e-4, atol=1e-5)


def test_phase_sensitive_target_weighted_by_power_is_the_masked_error_energy() -> None:
    """|X|^2 (M - psm)^2 differs from the vocals' error energy |M X - V|^2 by a term that does
    not depend on the mask M; with the stems in phase psm is the ideal ratio mask."""
    torch = require_module("torch")
    from unsing.errors import ConfigError
    from unsing.models.fit_long_band import mask_target

    rng = np.random.default_rng(5)
    shape = (2, 40, 30)
    vocals = torch.complex(*(torch.from_numpy(rng.standard_normal(shape)) for _ in range(2)))
    other = torch.complex(*(torch.from_numpy(rng.standard_normal(shape)) for _ in range(2)))
    mixture = vocals + other
    psm = mask_target(vocals, other, "psm")
    offsets = []
    for mask in (torch.zeros(shape), torch.rand(shape, dtype=torch.float64), torch.ones(shape)):
        error = (mask * mixture - vocals).abs().square()
        weighted = mixture.abs().square() * (mask - psm).square()
        offsets.append(error - weighted)
    torch.testing.assert_close(offsets[1], offsets[0], rtol=1e-5, atol=1e-5)  # eps 1e-8
    torch.testing.assert_close(offsets[2], offsets[0], rtol=1e-5, atol=1e-5)
    in_phase = other.abs() * vocals / vocals.abs()  # the accompaniment with the voice's phase
    torch.testing.assert_close(
        mask_target(vocals, in_phase, "psm"), mask_target(vocals, in_phase, "irm")
    )
    with pytest.raises(ConfigError, match="irm or psm"):
        mask_target(vocals, other, "wiener")


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("long_band.target=wiener", r"long_band\.target = 'wiener': not allowed.*irm, psm"),
        ("long_band.dilations=[]", r"long_band\.dilations = \[\]: must list at least one"),
        ("long_band.dilations=[1, 0]", r"long_band\.dilations\[1\] = 0: out of range"),
        ("long_band.channels=0", r"long_band\.channels = 0: out of range"),
        ("long_band.crossover_hz=[750, 600]", r"long_band\.crossover_hz = \[750\.0, 600\.0\]"),
        ("long_band.crossover_hz=[600]", r"long_band\.crossover_hz = \[600\.0\]: must be \[LOW"),
    ],
)
def test_long_band_settings_are_checked_before_any_data_loads(override: str, match: str) -> None:
    from unsing.errors import ConfigError
    from unsing.models.recipe import load_recipe

    with pytest.raises(ConfigError, match=f"^command line: {match}"):
        load_recipe(overrides=[override])


def test_fit_long_band_runs_the_recipes_stage_and_its_flags_override_it(
    monkeypatch, capsys, tmp_path: Path
) -> None:
    require_module("torch")
    from unsing.models import fit_long_band

    fitted = []
    monkeypatch.setattr(
        fit_long_band, "fit", lambda recipe, run_dir, init: fitted.append(recipe) or run_dir
    )
    init = ["--name", "x", "--init", str(tmp_path / "start.pt")]
    assert fit_long_band.main([*init, "--stage", "v7"]) == 0
    band = fitted[-1].long_band  # the shipped model's stage 5, as scripts/train_default.sh ran it
    assert (band.steps, band.dilations, band.unet_input, band.target) == (
        4000,
        (1, 2, 4, 8, 16),
        True,
        "psm",
    )
    assert fitted[-1].train.threads == 2 and fitted[-1].train.seed == 1234
    assert fitted[-1].train.learning_rate == 0.002
    flags = ["--steps", "5", "--no-unet-input", "--crossover-hz", "500", "700", "--window", "8192"]
    assert fit_long_band.main([*init, "--stage", "v7", *flags, "--dilations", "1", "2"]) == 0
    band = fitted[-1].long_band
    assert (band.steps, band.unet_input, band.crossover_hz) == (5, False, (500.0, 700.0))
    assert (band.analysis_samples, band.dilations, band.target) == (8192, (1, 2), "psm")
    assert fitted[-1].origin("long_band.steps") == "command line"
    # the base settings are fit_long_band's defaults
    assert fit_long_band.main(init) == 0
    band = fitted[-1].long_band
    assert (band.steps, band.dilations, band.unet_input, band.target) == (
        3000,
        (1, 2, 4, 8),
        False,
        "irm",
    )
    capsys.readouterr()
    # a stage of unsing train, a bad value: one line, nothing fitted
    assert fit_long_band.main([*init, "--stage", "v6"]) == 2
    assert "stage v6 sets no long_band" in capsys.readouterr().err
    assert fit_long_band.main([*init, "--steps", "0"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("unsing: command line: long_band.steps = 0: out of range")
    assert len(fitted) == 3


@pytest.mark.parametrize(
    ("samples", "short", "match"),
    [(4000, SHORT, "multiple"), (512, SHORT, "at least"), (4096, StftSpec(1024, 1024), None)],
)
def test_long_window_spec_checks(samples: int, short: StftSpec, match: str | None) -> None:
    if match is None:
        LongWindowSpec(samples, short)
        return
    with pytest.raises(ValueError, match=match):
        LongWindowSpec(samples, short)


def test_crossover_weights_split_each_frequency_between_the_two_paths() -> None:
    layout = LongBandLayout(LongWindowSpec(4096, SHORT), 371, 160, (130.0, 158.0))
    long_weights, short_weights = layout.long_weights(), layout.short_weights()
    assert long_weights.shape == (160,) and short_weights.shape == (513,)
    assert long_weights[:130].min() == 1.0 and long_weights[158:].max() == 0.0
    # short bin j is long bin 4j: their weights add up to one at every frequency
    np.testing.assert_allclose(short_weights[:40] + long_weights[::4][:40], 1.0)
    assert short_weights[40:].min() == 1.0
    low, high = layout.crossover_hz(44100)
    assert low == pytest.approx(130 * 44100 / 4096) and high == pytest.approx(158 * 44100 / 4096)
    np.testing.assert_allclose(raised_cosine_low(np.array([0.0, 1.5, 3.0]), 1, 2), [1, 0.5, 0])
    for bad in [(158.0, 130.0), (130.0, 170.0)]:
        with pytest.raises(ValueError, match="crossover"):
            LongBandLayout(LongWindowSpec(4096, SHORT), 371, 160, bad)
    with pytest.raises(ValueError, match="input bins"):
        LongBandLayout(LongWindowSpec(4096, SHORT), 100, 160, (130.0, 158.0))


def test_unity_masks_through_both_paths_give_back_the_mixture() -> None:
    """Masks of one in both paths: the crossover's two filter banks sum to the mixture within
    -45 dB (the accompaniment, mixture minus vocals, is then silent within the same error)."""
    layout = LongBandLayout(LongWindowSpec(4096, SHORT), 371, 160, (130.0, 158.0))
    x = _signal(44100, 1)
    short = istft(stft(x, SHORT) * layout.short_weights()[:, None], SHORT, x.shape[-1])
    long_spectrum = stft(x, layout.spec)
    long_spectrum[:, 160:] = 0
    long_spectrum[:, :160] *= layout.long_weights()[:, None]
    total = short + istft(long_spectrum, layout.spec, x.shape[-1])
    error_db = 10 * np.log10(np.sum((total - x) ** 2) / np.sum(x**2))
    assert error_db < -45


LONG_TINY = {
    "widths": (2, 2, 2, 2),
    "tcn_channels": 4,
    "tcn_dilations": (1,),
    "long_band_analysis_samples": 4096,
    "long_band_input_bins": 40,
    "long_band_bins": 24,
    "long_band_crossover_bins": (12.0, 20.0),
    "long_band_channels": 6,
    "long_band_dilations": (1, 2),
}


def _long_band_model(seed: int = 0, unet_input: bool = False):
    torch = require_module("torch")
    from unsing.models.unet import CausalUNet, UNetConfig

    torch.manual_seed(seed)
    model = CausalUNet(UNetConfig(**LONG_TINY, long_band_unet_input=unet_input)).eval()
    with torch.no_grad():  # trained-looking statistics, so that streaming is really tested
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model


@pytest.mark.parametrize("unet_input", [False, True])
def test_long_band_model_streams_frame_by_frame_as_it_runs_whole(unet_input: bool) -> None:
    torch = require_module("torch")
    from unsing.models.unet import StreamingUNet

    model = _long_band_model(unet_input=unet_input)
    config = model.config
    assert (config.input_bins, config.output_bins) == (513 + 40, 513 + 24)
    magnitude = torch.rand(1, 2, config.input_bins, 50) * 3
    with torch.no_grad():
        whole = model(magnitude)
        streaming = StreamingUNet(model)
        states = streaming.initial_states()
        frames = []
        for t in range(magnitude.shape[-1]):
            mask, *states = streaming(magnitude[..., t : t + 1], *states)
            frames.append(mask)
    assert whole.shape == (1, 2, config.output_bins, 50)
    torch.testing.assert_close(torch.cat(frames, -1), whole, rtol=0, atol=1e-6)


def test_long_band_architecture_round_trips_and_checks() -> None:
    require_module("torch")
    from unsing.models.unet import UNetConfig

    config = UNetConfig(**LONG_TINY)
    assert UNetConfig.from_dict(config.as_dict()) == config
    assert "long_band_bins" not in UNetConfig().as_dict()  # models without one: as before
    with pytest.raises(ValueError, match="long band"):
        UNetConfig(**{**LONG_TINY, "lookahead_frames": 2})
    with pytest.raises(ValueError, match="long band"):
        UNetConfig(**{**LONG_TINY, "long_band_crossover_bins": (12.0, 30.0)})


@pytest.mark.parametrize("unet_input", [False, True])
def test_separate_takes_the_low_band_from_the_long_window_path(unet_input: bool) -> None:
    torch = require_module("torch")
    from unsing.models.train import separate

    model = _long_band_model(unet_input=unet_input)
    layout = LongBandLayout.from_architecture(model.config.as_dict(), SHORT)
    x = (0.3 * _signal(30000)).astype(np.float32)
    vocals, accompaniment = separate(model, x, SHORT)
    with torch.no_grad():
        short = stft(x.astype(np.float64), SHORT)
        long = stft(x.astype(np.float64), layout.spec)
        magnitude = np.concatenate([np.abs(short), np.abs(long[:, :40])], axis=1)
        masks = model(torch.from_numpy(magnitude).float()[None])[0].double().numpy()
    mask, long_mask = masks[:, :513], masks[:, 513:]
    long_part = np.zeros_like(long)
    long_part[:, :24] = long[:, :24] * long_mask * layout.long_weights()[:, None]
    expected = istft(short * mask * layout.short_weights()[:, None], SHORT, x.shape[-1])
    expected += istft(long_part, layout.spec, x.shape[-1])
    np.testing.assert_allclose(vocals, expected, atol=2e-5)
    np.testing.assert_allclose(vocals + accompaniment, x, atol=1e-6)


def test_fitting_moves_only_the_long_band_and_writes_a_run(tmp_path: Path) -> None:
    torch = require_module("torch")
    from test_train import TINY, write_tree

    from unsing.errors import ConfigError
    from unsing.models.fit_long_band import fit, main
    from unsing.models.recipe import load_recipe
    from unsing.models.train import load_checkpoint, train

    data_root = write_tree(tmp_path / "data")
    paths = [f"train.data_root={data_root}", f"train.runs_dir={tmp_path / 'runs'}"]
    band = [*TINY_BAND, "long_band.random_mixes=3", "long_band.random_mix_seconds=1.5"]
    recipe = load_recipe(overrides=[*TINY, *paths, "train.ema_decay=0", *band])
    start = train(recipe, tmp_path / "runs" / "start", quiet=True, max_steps=1)
    run_dir = fit(recipe, tmp_path / "runs" / "band", start / "last.pt", log_every=2)
    before = load_checkpoint(start / "last.pt")[1]["model_state"]
    model, state = load_checkpoint(run_dir / "last.pt")
    after = state["model_state"]
    for name, value in before.items():  # the U-Net, batch-norm statistics included
        assert torch.equal(after[name], value), name
    arch = state["architecture"]
    assert arch["long_band_analysis_samples"] == 4096 and arch["long_band_input_bins"] == 140
    assert arch["long_band_crossover_bins"] == pytest.approx(
        [400 * 4096 / 44100, 600 * 4096 / 44100], abs=1e-3
    )
    assert state["fitted_by"] == "unsing.models.fit_long_band"
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4] and all(np.isfinite(r["loss"]) for r in log)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    trained_on = [e["path"] for e in manifest["entries"] if e["role"] == "training"]
    assert trained_on and not any("abjones" in p or "sodium" in p for p in trained_on)
    pool = [e["path"] for e in manifest["entries"] if e["role"].startswith("random_mix_")]
    assert pool and not any("abjones" in p or "sodium" in p for p in pool)
    assert state["fit"] == {  # the recipe's long_band section, steps first
        "steps": 4,
        "analysis_samples": 4096,
        "input_hz": 1500.0,
        "crossover_hz": (400.0, 600.0),
        "channels": 4,
        "dilations": (1, 2),
        "unet_input": False,
        "random_mixes": 3,
        "random_mix_seconds": 1.5,
        "target": "irm",
    }
    assert state["step"] == 4 and state["config"]["long_band"]["dilations"] == [1, 2]
    with pytest.raises(ConfigError, match="long band already"):
        fit(recipe, tmp_path / "runs" / "again", run_dir / "last.pt")
    options = [item for path in paths for item in ("--set", path)]
    assert main(["--name", "x", "--init", str(tmp_path / "nope.pt"), *options]) == 2
    # a band whose own past (2 x 64 frames) is longer than the U-Net's: refused, nothing written
    start_path = str(start / "last.pt")
    assert main(["--name", "y", "--init", start_path, "--dilations", "64", *options]) == 2
    assert not (tmp_path / "runs" / "y").exists()
    assert model.long_band is not None


@pytest.fixture(scope="module")
def exported_long_band(tmp_path_factory) -> tuple[Path, Path]:
    require_module("torch")
    require_module("onnx")
    from conftest import write_tiny_checkpoint

    from unsing.export.export_checkpoint import export_checkpoint

    folder = tmp_path_factory.mktemp("long")
    checkpoint = write_tiny_checkpoint(folder / "long.pt", long_band=True)
    report = export_checkpoint(checkpoint, folder / "long.onnx")
    assert report.ok, report.lines()
    return checkpoint, folder / "long.onnx"


def _tiny_config(path: Path, *overrides: str):
    """The runtime config running the exported model at ``path`` (its contract from the file)."""
    from unsing.config import load_config

    return load_config(overrides=[f"model.path={path}", *overrides])


def test_exported_long_band_model_declares_its_layout_and_matches_pytorch(
    exported_long_band, music_like_signal, tmp_path
) -> None:
    torch = require_module("torch")
    import soundfile

    from unsing.export.export_checkpoint import export_checkpoint
    from unsing.models.train import load_checkpoint
    from unsing.realtime.onnx_model import OnnxMaskModel

    checkpoint, path = exported_long_band
    audio = tmp_path / "song.wav"
    soundfile.write(audio, music_like_signal.T, 44100)
    report = export_checkpoint(checkpoint, tmp_path / "again.onnx", audio)
    assert report.ok and set(report.parity) == {"random input", "song.wav"}, report.lines()
    for graph in ("streaming", "window"):
        model = OnnxMaskModel(_tiny_config(path, f"model.graph={graph}"))
        assert (model.bins, model.input_bins, model.output_bins) == (513, 573, 553)
        assert model.long_band.spec.analysis_samples == 4096
        assert model.long_band.crossover_bins == (20.0, 36.0)
        magnitudes = np.random.default_rng(4).gamma(0.5, 4.0, (40, 2, 573)).astype(np.float32)
        torch_model, _ = load_checkpoint(checkpoint)
        with torch.no_grad():
            reference = torch_model(torch.from_numpy(magnitudes.transpose(1, 2, 0))[None])[0]
        masks = np.stack([model(m).copy() for m in magnitudes], axis=-1)
        start = 0 if graph == "streaming" else 32
        np.testing.assert_allclose(masks[..., start:], reference[..., start:], atol=1e-4)


@pytest.mark.parametrize("blocksize", [256, 100, 1024])
def test_engine_streams_a_long_band_model_as_offline_and_as_pytorch(
    exported_long_band, music_like_signal, blocksize
) -> None:
    require_module("torch")
    from unsing.models.train import load_checkpoint, separate
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.gains import LiveParameters
    from unsing.realtime.offline import separate_offline
    from unsing.realtime.onnx_model import OnnxMaskModel
    from unsing.realtime.render import render

    checkpoint, path = exported_long_band
    config = _tiny_config(path)
    model = OnnxMaskModel(config)
    signal = np.ascontiguousarray(music_like_signal.T[:40000], dtype=np.float32)
    vocals, accompaniment = separate_offline(config, model, signal)
    torch_vocals, _ = separate(load_checkpoint(checkpoint)[0], signal.T.copy(), SHORT)
    np.testing.assert_allclose(vocals, torch_vocals.T, atol=2e-4)  # ONNX vs PyTorch masks
    engine = SeparationEngine(config, model, stems=True, blocksize_samples=blocksize)
    assert engine.long_band is not None
    stems = render(engine, signal, blocksize)
    np.testing.assert_allclose(stems[:, :2], vocals, atol=1e-6)
    np.testing.assert_allclose(stems[:, 2:], accompaniment, atol=1e-6)
    karaoke = render(SeparationEngine(config, model, LiveParameters(0.0, 1.0, 1.0)), signal)
    np.testing.assert_allclose(karaoke, accompaniment, atol=1e-6)
    assert 0.05 < np.std(vocals) / np.std(signal) < 0.95


def test_unity_gains_stay_exact_with_a_long_band(exported_long_band, music_like_signal) -> None:
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.gains import LiveParameters
    from unsing.realtime.onnx_model import OnnxMaskModel

    config = _tiny_config(exported_long_band[1])
    engine = SeparationEngine(config, OnnxMaskModel(config), LiveParameters(1.0, 1.0, 1.0))
    signal = np.ascontiguousarray(music_like_signal.T[:20000], dtype=np.float32)
    padded = np.concatenate([signal, np.zeros((2048, 2), np.float32)])
    out = np.zeros_like(padded)
    for start in range(0, padded.shape[0] - 255, 256):
        engine.process(padded[start : start + 256], out[start : start + 256])
    delay = engine.delay_samples
    np.testing.assert_allclose(out[delay : delay + signal.shape[0]], signal, atol=1e-6)


def test_griffin_lim_runs_a_long_band_model_on_the_unets_mask(
    exported_long_band, music_like_signal
) -> None:
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.onnx_model import OnnxMaskModel
    from unsing.realtime.render import render

    config = _tiny_config(exported_long_band[1], "engine.resynthesis=griffin_lim")
    engine = SeparationEngine(config, OnnxMaskModel(config), stems=True)
    assert engine.long_band is None
    stems = render(engine, np.ascontiguousarray(music_like_signal.T[:20000], np.float32))
    assert np.isfinite(stems).all() and np.std(stems[:, :2]) > 0


def test_long_band_engine_hops_allocate_no_arrays(exported_long_band) -> None:
    from conftest import hop_allocation_bytes

    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.onnx_model import OnnxMaskModel

    for stems in (False, True):
        config = _tiny_config(exported_long_band[1])
        engine = SeparationEngine(config, OnnxMaskModel(config), deadline=True, stems=stems)
        signal = (0.1 * np.random.default_rng(0).standard_normal((256 * 550, 2))).astype(np.float32)
        peak, current, _ = hop_allocation_bytes(engine, signal, warm_hops=200)
        assert peak < 4096 and current < 1024, (peak, current, stems)


def test_long_band_reads_the_unets_mask_interpolated_at_its_bins() -> None:
    torch = require_module("torch")
    from unsing.models.unet import UNET_LOGIT_SCALE, unet_logits_at_long_bins

    model = _long_band_model(unet_input=True)
    band = model.long_band
    assert band.unet_to_long.shape == (24, 513) and "unet_to_long" not in model.state_dict()
    # long bin k of a 4096 window is project bin k / 4: a linear ramp stays a ramp
    ramp = torch.linspace(0.01, 0.99, 513).reshape(1, 1, 513, 1).repeat(1, 2, 1, 3)
    logits = unet_logits_at_long_bins(band, ramp)[0, 0, :, 0]
    expected = torch.tensor([0.01 + 0.98 * (k / 4) / 512 for k in range(24)])
    torch.testing.assert_close(torch.sigmoid(logits * UNET_LOGIT_SCALE), expected)
    with pytest.raises(ValueError, match="U-Net's mask"):
        band(torch.rand(1, 2, 40, 5))


def test_fitting_a_band_that_reads_the_unet(tmp_path: Path) -> None:
    torch = require_module("torch")
    from test_train import TINY, write_tree

    from unsing.models.fit_long_band import fit, long_band_examples, long_band_loss
    from unsing.models.recipe import load_recipe
    from unsing.models.train import load_checkpoint, train

    data_root = write_tree(tmp_path / "data")
    paths = [f"train.data_root={data_root}", f"train.runs_dir={tmp_path / 'runs'}"]
    band = [*TINY_BAND, "long_band.steps=2", "long_band.unet_input=true", "long_band.target=psm"]
    recipe = load_recipe(overrides=[*TINY, *paths, "train.ema_decay=0", *band])
    start = train(recipe, tmp_path / "runs" / "start", quiet=True, max_steps=1)
    run_dir = fit(recipe, tmp_path / "runs" / "band", start / "last.pt", log_every=2)
    model, state = load_checkpoint(run_dir / "last.pt")
    assert state["architecture"]["long_band_unet_input"] is True
    assert state["fit"]["target"] == "psm"
    from unsing.models.package import package

    package(run_dir, tmp_path / "shipped", checkpoint="last.pt")
    card = (tmp_path / "shipped" / "MODEL_CARD.md").read_text()
    assert "Long band fitted alone" in card and "phase-sensitive mask" in card
    assert "reads the U-Net's mask" in card and "random mixes" not in card
    # the precomputed features give the whole model's own band mask
    rng = np.random.default_rng(1)
    vocals, accompaniment = (0.1 * rng.standard_normal((1, 20000)).astype(np.float32) for _ in "va")
    from unsing.long_band import LongBandLayout

    layout = LongBandLayout.from_architecture(state["architecture"], SHORT)
    examples = long_band_examples(layout, 2, [(vocals, accompaniment)], model)
    frames = examples["clip"].shape[0]
    mixture = np.repeat(vocals + accompaniment, 2, 0).astype(np.float64)
    magnitude = np.concatenate(
        [np.abs(stft(mixture, SHORT)), np.abs(stft(mixture, layout.spec)[:, :140])], axis=1
    )
    with torch.no_grad():
        whole = model(torch.from_numpy(magnitude).float()[None])[0, :, 513:]
        band = model.long_band
        features = torch.cat(
            [
                band.normalise(examples["inputs"].permute(1, 2, 0)[None]),
                examples["unet"].permute(1, 2, 0)[None],
            ],
            dim=2,
        )
        fitted = band.network(features)[0]
        assert float(long_band_loss(model, examples, torch.arange(frames)[None])) > 0
    torch.testing.assert_close(fitted, whole, atol=1e-5, rtol=0)


def test_unets_mask_for_the_fit_is_computed_in_chunks_as_in_one_go() -> None:
    torch = require_module("torch")
    from unsing.models.fit_long_band import unet_mask_of

    model = _long_band_model(unet_input=True)
    magnitude = torch.rand(1, 2, 513, 70) * 3
    with torch.no_grad():
        one_go = unet_mask_of(model, magnitude, chunk_frames=1000)
        chunked = unet_mask_of(model, magnitude, chunk_frames=16)
        silence = torch.zeros(1, 2, model.config.long_band_input_bins, 70)
        whole = model(torch.cat([magnitude, silence], 2))[:, :, :513]
    assert model.config.receptive_field_frames > 16  # chunks shorter than the receptive field
    torch.testing.assert_close(one_go, whole, rtol=0, atol=0)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)


def test_band_input_statistics_summed_in_chunks_match_the_whole_tensors() -> None:
    torch = require_module("torch")
    from unsing.models.fit_long_band import normalise_inputs
    from unsing.models.unet import LONG_BAND_POWER_FLOOR

    model = _long_band_model(unet_input=False)
    bins = model.config.long_band_input_bins
    generator = torch.Generator().manual_seed(3)
    scale = torch.logspace(-3, 1, bins)  # bins whose log powers differ in mean and spread
    inputs = torch.rand(1001, 2, bins, generator=generator) * scale
    log_power = torch.log(inputs.square() + LONG_BAND_POWER_FLOOR)
    std = log_power.std(dim=(0, 1)) + 1e-5
    for chunk_frames in (64, 5000):  # a ragged last chunk, and one chunk
        normalise_inputs(model, inputs, chunk_frames=chunk_frames)
        band = model.long_band
        torch.testing.assert_close(band.input_scale.flatten(), 1 / std, rtol=1e-5, atol=0)
        torch.testing.assert_close(
            band.input_shift.flatten(), -log_power.mean(dim=(0, 1)) / std, rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("unet_input", [False, True])
def test_last_mask_needs_only_the_receptive_field(unet_input: bool) -> None:
    """What the window graph computes: the newest frame's mask from the last
    ``receptive_field_frames`` frames alone is the one from the whole history (a band that reads
    the U-Net's mask needs the U-Net's past for each of its own past frames; in this tiny model
    the influence of old frames fades long before, so the real model's export parity check is
    what shows the U-Net's window alone falling short)."""
    torch = require_module("torch")

    model = _long_band_model(unet_input=unet_input)
    config = model.config
    window = config.receptive_field_frames
    band_past = (config.time_kernel - 1) * sum(config.long_band_dilations)
    assert window == config._unet_past_frames + 1 + (band_past if unet_input else 0)
    magnitude = torch.rand(1, 2, config.input_bins, window + 20) * 3
    with torch.no_grad():
        whole = model(magnitude)[..., -1]
        last = model(magnitude[..., -window:])[..., -1]
    torch.testing.assert_close(last, whole, rtol=0, atol=1e-6)


def test_long_band_loss_skips_the_bands_own_past_when_longer_than_the_warm_up() -> None:
    torch = require_module("torch")
    from unsing.models.fit_long_band import WARM_FRAMES, long_band_loss
    from unsing.models.unet import CausalUNet, UNetConfig

    config = {**LONG_TINY, "tcn_dilations": (1, 2, 4, 8, 16), "long_band_dilations": (8, 16)}
    model = CausalUNet(UNetConfig(**config)).eval()
    past = (model.config.time_kernel - 1) * 24
    assert past > WARM_FRAMES
    frames, channels = 128, 2
    generator = torch.Generator().manual_seed(3)
    examples = {
        "inputs": torch.rand(frames, channels, 40, generator=generator),
        "target": torch.rand(frames, channels, 24, generator=generator),
        "weight": torch.rand(frames, channels, 24, generator=generator) + 0.5,
    }
    index = torch.arange(frames)[None]
    with torch.no_grad():
        loss = float(long_band_loss(model, examples, index))
        examples["target"][:past] = 1.0 - examples["target"][:past]  # inside the band's past
        assert float(long_band_loss(model, examples, index)) == pytest.approx(loss, rel=1e-6)
        examples["target"][past] = 1.0 - examples["target"][past]  # the first frame scored
        assert float(long_band_loss(model, examples, index)) != pytest.approx(loss, rel=1e-6)


def test_crops_never_straddle_two_clips() -> None:
    torch = require_module("torch")
    from unsing.models.fit_long_band import crop_starts

    clip = torch.tensor([0] * 5 + [1] * 3 + [2] * 6)
    assert list(crop_starts(clip, 4)) == [0, 1, 8, 9, 10]
    assert len(crop_starts(clip, 20)) == 0


def test_eif_training_tracks_leave_the_validation_track_out_and_stay_stereo(tmp_path) -> None:
    require_module("torch")
    from test_train import write_tree

    from unsing.models.data import Manifest
    from unsing.models.fit_long_band import eif_training_tracks

    data_root = write_tree(tmp_path / "data")
    manifest = Manifest()
    tracks = eif_training_tracks(data_root, 44100, manifest)
    paths = [entry["path"] for entry in manifest.as_dict()["entries"]]
    assert len(tracks) == 1 and all("lithium" in p for p in paths) and len(paths) == 2
    vocals, accompaniment = tracks[0]
    assert vocals.shape == accompaniment.shape and vocals.shape[0] == 2
