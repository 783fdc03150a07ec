"""The file pipeline (realtime/file_pipeline.py): blocks in, stems out, at any rate.

Stems add up to the input at every rate (the accompaniment is the input minus the vocals at the
file's own rate), every sample lands where it belongs (soxr's stream resamplers, the engine's
delay), lengths are kept, and an interrupted write leaves nothing that looks done.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr

from unsing.config import load_config
from unsing.errors import AudioFileError
from unsing.realtime.audio_file import AtomicWriter, check_output, probe_song
from unsing.realtime.file_pipeline import (
    StreamResampler,
    accompaniment_formula,
    aligned_blocks,
    engine_output,
    mix_formula,
    rechunk,
    run_file,
    stream_vocals,
    vocals_formula,
    vocals_processor,
)
from unsing.realtime.onnx_model import OnnxMaskModel

RATES = (8000, 22050, 44100, 48000, 96000)


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def processors(config):
    """The vocals processor of each mode, over the shipped model."""
    model = OnnxMaskModel(config)
    return {mode: vocals_processor(config, mode, lambda: model) for mode in ("stream", "offline")}


def music(rate: int, channels: int, seconds: float = 0.6, seed: int = 0) -> np.ndarray:
    """Tones, a chirp and noise bursts up to the Nyquist frequency: float32 (samples, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tones = sum(0.15 / k * np.sin(2 * np.pi * 196.0 * k * t) for k in range(1, 9))
    chirp = 0.2 * np.sin(2 * np.pi * (50.0 * t + 0.45 * rate / 2 / seconds * t**2))
    noise = 0.05 * rng.standard_normal((t.size, channels))
    signal = tones[:, None] + chirp[:, None] * np.array([1.0, -0.6][:channels]) + noise
    return signal.astype(np.float32)


def write(path: Path, audio: np.ndarray, rate: int) -> Path:
    soundfile.write(path, audio, rate, subtype="FLOAT")
    return path


def read(path: Path) -> np.ndarray:
    return soundfile.read(path, dtype="float32", always_2d=True)[0]


def separate(config, processor, source: Path, folder: Path, read_frames: int = 3001):
    outputs = {
        folder / "vocals.wav": vocals_formula,
        folder / "accompaniment.wav": accompaniment_formula,
    }
    stats = run_file(config, probe_song(source), processor, outputs, read_frames=read_frames)
    return read(folder / "vocals.wav"), read(folder / "accompaniment.wav"), stats


@pytest.mark.parametrize("mode", ["stream", "offline"])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("rate", RATES)
def test_stems_add_up_to_the_input_at_every_rate(
    config, processors, tmp_path, rate, channels, mode
) -> None:
    mixture = music(rate, channels)
    source = write(tmp_path / "song.wav", mixture, rate)
    vocals, accompaniment, stats = separate(config, processors[mode], source, tmp_path)
    assert vocals.shape == accompaniment.shape == mixture.shape
    assert stats.samples == mixture.shape[0]
    error = np.abs(vocals.astype(np.float64) + accompaniment - mixture).max()
    assert error <= 1e-6, error
    assert 0.05 < np.std(vocals) / np.std(mixture) < 0.95  # separated, not passed through


def test_content_above_the_models_band_goes_to_the_accompaniment(config, processors, tmp_path):
    rate = 96000
    t = np.arange(rate // 2) / rate
    high = (0.3 * np.sin(2 * np.pi * 30000.0 * t))[:, None].astype(np.float32)
    mixture = music(rate, 1, seconds=0.5) + high
    source = write(tmp_path / "song.wav", mixture, rate)
    vocals, accompaniment, _ = separate(config, processors["stream"], source, tmp_path)
    spectrum = np.abs(np.fft.rfft(vocals[:, 0]))
    bins = np.fft.rfftfreq(vocals.shape[0], 1 / rate)
    assert spectrum[bins > 23000].max() < 1e-3 * spectrum.max()  # no vocals above 22.05 kHz
    residual = accompaniment - (mixture - vocals)
    assert np.abs(residual).max() <= 1e-6


class Halve:
    """A model-rate processor that returns half its input, block by block (sizes kept)."""

    def __call__(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            yield 0.5 * block


@pytest.mark.parametrize("rate", RATES)
def test_a_click_lands_on_its_own_sample(config, tmp_path, rate) -> None:
    """Resampled to the model's rate and back in blocks, a click comes out at the sample it
    went in at: the FIFO pairs each processed sample with its input sample."""
    samples = rate // 2
    where = samples // 3 + 7
    mixture = np.zeros((samples, 2), np.float32)
    mixture[where] = [0.8, -0.4]
    source = write(tmp_path / "click.wav", mixture, rate)
    pairs = list(aligned_blocks(config, probe_song(source), Halve(), read_frames=977))
    x = np.concatenate([pair[0] for pair in pairs])
    y = np.concatenate([pair[1] for pair in pairs])
    np.testing.assert_array_equal(x, mixture)
    assert y.shape == mixture.shape
    assert int(np.argmax(np.abs(y[:, 0]))) == where
    assert int(np.argmax(np.abs(y[:, 1]))) == where
    # exactly the whole-signal round trip (band-limited where the rate is not the model's)
    there = soxr.resample(mixture, rate, 44100, quality="HQ") if rate != 44100 else mixture
    back = soxr.resample(0.5 * there, 44100, rate, quality="HQ") if rate != 44100 else 0.5 * there
    expected = np.zeros_like(mixture)
    expected[: min(samples, back.shape[0])] = back[:samples]
    np.testing.assert_allclose(y, expected, atol=1e-6)


@pytest.mark.parametrize("mode", ["stream", "offline"])
def test_vocals_are_aligned_with_the_input(config, processors, tmp_path, mode) -> None:
    """The real model's vocals correlate best with the input at lag 0, at another rate too."""
    rate = 48000
    mixture = music(rate, 2, seconds=1.0, seed=3)
    source = write(tmp_path / "song.wav", mixture, rate)
    vocals, _, _ = separate(config, processors[mode], source, tmp_path)
    lags = range(-64, 65)
    a, b = vocals[:, 0].astype(np.float64), mixture[:, 0].astype(np.float64)
    middle = slice(200, a.size - 200)
    scores = [float(np.dot(a[middle], np.roll(b, lag)[middle])) for lag in lags]
    assert lags[int(np.argmax(scores))] == 0


def test_stream_vocals_are_the_live_engines_stems(config) -> None:
    """Blocks of any size through stream_vocals equal the engine's vocals stem rendered
    whole (render(): the delay cut from the front), bit for bit."""
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.render import render

    model = OnnxMaskModel(config)
    signal = music(44100, 2, seconds=0.5, seed=5)
    reference = render(SeparationEngine(config, model, stems=True), signal)[:, :2]
    blocks = [signal[i : i + 777] for i in range(0, signal.shape[0], 777)]
    vocals = np.concatenate(list(stream_vocals(config, model, blocks)))
    np.testing.assert_array_equal(vocals, reference)


@pytest.mark.parametrize("shifter", ["stft", "rubberband"])
def test_stream_vocals_keep_the_songs_key_whatever_the_config_says(config, shifter) -> None:
    """`separate --mode stream` with a key in the config (for live use): the stems are the
    ones without it, bit for bit (no shift, no Rubber Band at ratio 1)."""
    from unsing.config import load_config

    keyed = load_config(
        overrides=["engine.key_semitones=3", f"engine.key_shifter={shifter}"],
        contract=config.contract,
    )
    model = OnnxMaskModel(config)
    signal = music(44100, 2, seconds=0.5, seed=5)
    plain = np.concatenate(list(stream_vocals(config, model, [signal])))
    model = OnnxMaskModel(config)
    shifted_config = np.concatenate(list(stream_vocals(keyed, model, [signal])))
    np.testing.assert_array_equal(shifted_config, plain)


def test_engine_output_compensates_the_delay_with_any_blocks(config) -> None:
    """At unity gains the engine's output is its input; engine_output cuts the delay and
    flushes the end, so it is the input itself, exactly as long."""
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.gains import LiveParameters

    model = OnnxMaskModel(config)
    signal = music(44100, 2, seconds=0.3, seed=6)
    engine = SeparationEngine(config, model, LiveParameters(1.0, 1.0, 1.0))
    blocks = [signal[i : i + 1000] for i in range(0, signal.shape[0], 1000)]
    output = np.concatenate(list(engine_output(engine, blocks)))
    assert output.shape == signal.shape
    np.testing.assert_allclose(output, signal, atol=1e-6)


def test_rechunk_and_the_stream_resampler() -> None:
    blocks = [np.full((n, 2), n, np.float32) for n in (5, 0, 17, 3, 40)]
    chunks = list(rechunk(blocks, 16))
    assert [c.shape[0] for c in chunks] == [16, 16, 16, 16, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), np.concatenate(blocks))
    signal = music(22050, 2, seconds=0.4)
    resampler = StreamResampler(22050, 44100, 2)
    streamed = [resampler(signal[i : i + 999]) for i in range(0, signal.shape[0], 999)]
    streamed.append(resampler.flush())
    whole = soxr.resample(signal, 22050, 44100, quality="HQ")
    np.testing.assert_array_equal(np.concatenate(streamed), whole)


def test_the_karaoke_mix_is_the_engines_mix_at_the_files_rate(config, processors, tmp_path):
    rate = 32000
    mixture = music(rate, 2, seconds=0.4)
    source = write(tmp_path / "song.wav", mixture, rate)
    vocals, accompaniment, _ = separate(config, processors["offline"], source, tmp_path)
    target = tmp_path / "mix.wav"
    run_file(
        config, probe_song(source), processors["offline"], {target: mix_formula(0.5, 1.0, 0.8)}
    )
    np.testing.assert_allclose(read(target), 0.8 * (0.5 * vocals + accompaniment), atol=1e-6)


def test_an_interrupted_run_leaves_no_output_and_no_temporary_file(config, tmp_path) -> None:
    source = write(tmp_path / "song.wav", music(44100, 2), 44100)
    folder = tmp_path / "stems"
    (tmp_path / "existing").mkdir()
    kept = tmp_path / "existing" / "vocals.wav"
    kept.write_bytes(b"an older file")

    def failing(done: int, total: int) -> None:
        if done > 10000:
            raise KeyboardInterrupt

    outputs = {kept: vocals_formula, folder / "accompaniment.wav": accompaniment_formula}
    with pytest.raises(KeyboardInterrupt):
        run_file(config, probe_song(source), Halve(), outputs, failing, read_frames=4096)
    assert kept.read_bytes() == b"an older file"  # replaced only when complete
    assert not folder.exists()  # the folder it made for nothing is gone too
    assert sorted(p.name for p in (tmp_path / "existing").iterdir()) == ["vocals.wav"]


def test_atomic_writer_appears_only_when_committed(tmp_path) -> None:
    target = tmp_path / "a" / "b.flac"
    writer = AtomicWriter(target, 8000, 1)
    writer.write(np.full((100, 1), 2.0, np.float32))  # clipped, not wrapped around (24-bit)
    assert not target.exists() and writer.temporary.exists()
    assert writer.temporary.name.startswith(".b.flac.")
    writer.commit()
    assert target.exists() and not writer.temporary.exists()
    assert read(target).min() > 0.99


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("out.mp3", "unsing cannot write '.mp3'; it writes wav (32-bit float), flac"),
        ("out", "unsing cannot write no extension; it writes wav"),
        ("song.wav", "that is the input song; choose another output"),
        ("existing.wav", "existing.wav: already exists; --overwrite replaces it"),
        ("folder.wav", "folder.wav: is a folder"),
        ("file.txt/sub/out.wav", "cannot write there ("),
    ],
)
def test_output_checks_are_one_line(tmp_path, name, message) -> None:
    write(tmp_path / "song.wav", np.zeros((10, 1), np.float32), 8000)
    (tmp_path / "existing.wav").write_bytes(b"x")
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "file.txt").write_text("not a folder")
    with pytest.raises(AudioFileError) as error:
        check_output(tmp_path / name, [tmp_path / "song.wav"])
    assert message in str(error.value) and "\n" not in str(error.value)
    check_output(tmp_path / "existing.wav", [tmp_path / "song.wav"], overwrite=True)
    check_output(tmp_path / "new" / "deeper" / "out.flac")  # creatable: fine, nothing made
    assert not (tmp_path / "new").exists()
