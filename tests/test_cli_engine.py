"""`unsing play` / `unsing separate` from the command line, and their errors.

Real files, real subprocesses: what a user types. The stems are checked against the in-process
offline reference, against the input (vocals + accompaniment = mixture), and for shape, rate and
length at several input formats.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from unsing.config import load_config
from unsing.realtime.audio_file import read_song, to_engine
from unsing.realtime.offline import separate_offline
from unsing.realtime.onnx_model import OnnxMaskModel

UNSING = Path(sys.executable).with_name("unsing")
EIF = Path(__file__).resolve().parents[2] / "shared/data/everything-is-free"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JACK_DEFAULT")}
    env["JACK_DEFAULT_SERVER"] = "unsing-no-such-server"  # no output device: play renders
    env["JACK_NO_START_SERVER"] = "1"
    return subprocess.run(
        [str(UNSING), *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env
    )


@pytest.fixture(scope="module")
def song_path(tmp_path_factory) -> Path:
    """4 s of a real CC0 song (everything-is-free) with vocals, 44.1 kHz stereo FLAC."""
    folder = tmp_path_factory.mktemp("song")
    track = EIF / "sodium"
    if track.is_dir():
        vocals, rate = soundfile.read(track / "vocals.ogg", dtype="float32")
        accompaniment, _ = soundfile.read(track / "accompaniment.ogg", dtype="float32")
        start = 40 * rate
        mixture = vocals[start : start + 4 * rate] + accompaniment[start : start + 4 * rate]
        import soxr

        mixture = soxr.resample(mixture, rate, 44100)
    else:  # no shared data: the demo song that ships with unsing
        mixture, _ = soundfile.read(
            Path(__file__).resolve().parents[1] / "assets/demo/karissa_hobbs-lets_go_fishin.ogg",
            dtype="float32",
        )
        mixture = mixture[30 * 44100 : 34 * 44100]
    path = folder / "song.flac"
    soundfile.write(path, mixture, 44100)
    return path


def read(path: Path) -> tuple[np.ndarray, int]:
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return audio, rate


@pytest.mark.parametrize("mode", ["stream", "offline"])
def test_separate_writes_aligned_stems_equal_to_the_reference(song_path, tmp_path, mode) -> None:
    result = run("separate", str(song_path), "--out", str(tmp_path / mode), "--mode", mode)
    assert result.returncode == 0, result.stderr
    assert "vocals.wav" in result.stderr
    vocals, rate = read(tmp_path / mode / "vocals.wav")
    accompaniment, _ = read(tmp_path / mode / "accompaniment.wav")
    mixture, _ = read(song_path)
    assert rate == 44100 and vocals.shape == accompaniment.shape == mixture.shape
    config = load_config()
    reference = separate_offline(
        config, OnnxMaskModel(config), to_engine(read_song(song_path), 44100, 2)
    )
    np.testing.assert_allclose(vocals, reference[0], atol=1e-6)
    np.testing.assert_allclose(accompaniment, reference[1], atol=1e-6)
    # the masks are complementary: the stems add up to the (sample-aligned) mixture
    np.testing.assert_allclose(vocals + accompaniment, mixture, atol=1e-5)


@pytest.mark.parametrize("mode", ["stream", "offline"])
def test_separate_with_the_a_cappella_gate_equals_the_gated_reference(
    song_path, tmp_path, mode
) -> None:
    """``--gate`` (at a threshold where it acts on this song): both modes write the gated
    reference's stems, which differ from the ungated ones."""
    threshold = "engine.a_cappella_gate_threshold_db=-1"
    out = tmp_path / mode
    result = run(
        "separate", str(song_path), "--out", str(out), "--mode", mode, "--gate", "--set", threshold
    )
    assert result.returncode == 0, result.stderr
    accompaniment, _ = read(out / "accompaniment.wav")
    mixture = to_engine(read_song(song_path), 44100, 2)
    config = load_config(overrides=["engine.a_cappella_gate=true", threshold])
    _, reference = separate_offline(config, OnnxMaskModel(config), mixture)
    np.testing.assert_allclose(accompaniment, reference, atol=1e-5)
    ungated_config = load_config(overrides=["engine.a_cappella_gate=false"])
    _, ungated = separate_offline(ungated_config, OnnxMaskModel(config), mixture)
    assert np.abs(ungated - accompaniment).max() > 0.01


def test_separate_runs_offline_by_default_and_stream_for_a_model_without_sequence_graph(
    song_path, tmp_path
) -> None:
    """The fast mode by default; a model exported without a sequence graph (lab/models/
    unet-only) separates in stream mode with a note, while ``--mode offline`` is refused."""
    from unsing import PROJECT_ROOT

    result = run("separate", str(song_path), "--out", str(tmp_path / "default"))
    assert result.returncode == 0, result.stderr
    assert "mode offline)" in result.stderr and "no sequence graph" not in result.stderr
    unet_only = PROJECT_ROOT / "lab/models/unet-only/unsing-unet-only.onnx"
    model = ["--model", str(unet_only)]
    result = run("separate", str(song_path), "--out", str(tmp_path / "u"), *model)
    assert result.returncode == 0, result.stderr
    assert "unsing-unet-only.onnx has no sequence graph: separating in stream mode" in (
        result.stderr
    )
    assert "mode stream)" in result.stderr and (tmp_path / "u/vocals.wav").is_file()
    refused = run("separate", str(song_path), "--out", str(tmp_path / "o"), *model, "--mode",
                  "offline")  # fmt: skip
    assert refused.returncode != 0
    assert refused.stderr.strip().count("\n") == 0 and "sequence graph not found" in refused.stderr


@pytest.mark.parametrize(
    ("rate", "channels", "extension"),
    [(22050, 1, "wav"), (48000, 2, "ogg"), (16000, 2, "flac")],
)
def test_separate_keeps_the_input_rate_channels_and_length(
    song_path, tmp_path, rate, channels, extension
) -> None:
    import soxr

    mixture, _ = read(song_path)
    converted = soxr.resample(mixture, 44100, rate)
    if channels == 1:
        converted = converted.mean(axis=1, keepdims=True)
    source = tmp_path / f"in.{extension}"
    soundfile.write(source, converted, rate)
    decoded, _ = read(source)
    result = run("separate", str(source), "--out", str(tmp_path / "stems"))
    assert result.returncode == 0, result.stderr
    vocals, vocals_rate = read(tmp_path / "stems/vocals.wav")
    accompaniment, _ = read(tmp_path / "stems/accompaniment.wav")
    assert vocals_rate == rate
    assert vocals.shape == accompaniment.shape == decoded.shape
    # resampled to 44.1 kHz and back, the stems still add up to the input: the accompaniment
    # is the input minus the vocals at the input's rate
    np.testing.assert_allclose(vocals.astype(np.float64) + accompaniment, decoded, atol=1e-6)
    assert np.std(vocals) > 0.01 * np.std(decoded)


def test_play_without_an_output_device_renders_the_song_to_a_file(song_path, tmp_path) -> None:
    result = run("play", str(song_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no audio output device" in result.stderr
    rendered = tmp_path / "out" / "song.karaoke.wav"
    karaoke, rate = read(rendered)
    mixture, _ = read(song_path)
    assert rate == 44100 and karaoke.shape == mixture.shape
    config = load_config()
    _, accompaniment = separate_offline(
        config, OnnxMaskModel(config), to_engine(read_song(song_path), 44100, 2)
    )
    np.testing.assert_allclose(karaoke, accompaniment, atol=1e-6)  # default: vocal muted


def test_play_to_a_file_with_gains(song_path, tmp_path) -> None:
    target = tmp_path / "mix.wav"
    result = run("play", str(song_path), "--to", str(target), "--vocal-db", "-6", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "vocal -6.0 dB" in result.stderr
    mix, _ = read(target)
    config = load_config()
    vocals, accompaniment = separate_offline(
        config, OnnxMaskModel(config), to_engine(read_song(song_path), 44100, 2)
    )
    np.testing.assert_allclose(mix, 10 ** (-6 / 20) * vocals + accompaniment, atol=1e-5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["separate", "missing.wav", "--out", "x"], "missing.wav: no such file"),
        (["play", "garbage.wav"], "garbage.wav: cannot decode it as audio"),
        (["play", "six.wav"], "six.wav: 6 channels; unsing separates mono or stereo"),
        (
            ["play", "song.flac", "--set", "stft.n_fft=2048"],
            "command line: stft.n_fft: set by the model file (",
        ),
        (["play", "song.flac", "--model", "broken.onnx"], "broken.onnx: not a valid ONNX model"),
        (["run"], "no audio devices found. Connect a sound card, or"),
        (["play", "."], ".: is a folder, not a song (`unsing separate FOLDER --out DIR`"),
        (["separate", "folder/", "--out", "x", "--mode", "offline"], "no audio files"),
    ],
)
def test_bad_input_is_one_clear_line(song_path, tmp_path, args, message) -> None:
    (tmp_path / "garbage.wav").write_bytes(b"RIFF not really a wave file" * 10)
    soundfile.write(tmp_path / "six.wav", np.zeros((100, 6), np.float32), 44100)
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x01garbage")
    (tmp_path / "song.flac").write_bytes(song_path.read_bytes())
    (tmp_path / "folder").mkdir()
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unsing: error: "), result.stderr
    assert message in lines[0], lines[0]
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--duration", "nan"], "--duration: nan: must be a finite number of seconds"),
        (["run", "--duration", "-1"], "--duration: -1: must be a finite number of seconds"),
        (["run", "--duration", "0"], "--duration: 0: must be a finite number of seconds above 0"),
        (["midi", "monitor", "--duration", "inf"], "--duration: inf: must be a finite number"),
        (["midi", "learn", "vocal_gain", "--timeout", "-1"], "--timeout: -1: must be a finite"),
        (["midi", "learn", "vocal_gain", "--timeout", "nan"], "--timeout: nan: must be a finite"),
        (["info", "--bench", "--hops", "0"], "--hops: 0: must be at least 1"),
        (["info", "--bench", "--hops", "-5"], "--hops: -5: must be at least 1"),
        (["play", "song.flac", "--vocal-db", "nan"], "--vocal-db: nan: not a gain in dB"),
        (["play", "song.flac", "--bogus"], "unrecognized arguments: --bogus"),
        (["sing"], "invalid choice: 'sing'"),
    ],
)
def test_usage_errors_are_one_line_with_status_2(tmp_path, args, message) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert lines[0].endswith("--help`)") and ": error: " in lines[0]


def test_minus_infinity_db_mutes_and_a_cut_short_wav_is_a_warning(song_path, tmp_path) -> None:
    audio, _ = read(song_path)
    full = tmp_path / "full.wav"
    soundfile.write(full, audio, 44100, subtype="PCM_16")
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])  # the header still declares the whole song
    result = run("play", str(cut), "--to", str(tmp_path / "k.wav"), "--vocal-db=-inf", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "vocal muted" in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert (
        len(warnings) == 1
        and "cut.wav: the file is cut short: its header declares" in (warnings[0])
    )
    seconds = len(audio) / 44100
    assert f"declares {seconds:.1f} s, it holds {seconds / 2:.1f} s" in warnings[0]
    # the header (44 bytes) is in the first half: a few frames fewer than half remain
    assert soundfile.info(tmp_path / "k.wav").frames == pytest.approx(len(audio) / 2, abs=20)
    whole = run("play", str(full), "--to", str(tmp_path / "w.wav"), "--quiet")
    assert "warning" not in whole.stderr


def test_devices_json_says_why_the_list_is_empty(tmp_path) -> None:
    """No sound card and no reachable JACK server (another server name): JSON ``[]`` on
    stdout, the reason on stderr, status 1; and none of the libraries' probe chatter."""
    import os

    environment = {**os.environ, "JACK_DEFAULT_SERVER": "unsing-test-none",
                   "JACK_NO_START_SERVER": "1"}  # fmt: skip
    result = subprocess.run(
        [str(UNSING), "devices", "--json"], capture_output=True, text=True, timeout=60,
        cwd=tmp_path, env=environment,
    )  # fmt: skip
    if result.stdout.strip() != "[]":
        pytest.skip("this machine has a sound card")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("unsing: no audio devices found")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["separate", "song.flac", "--out", "file.txt/stems"], "cannot write there ("),
        (
            ["separate", "song.flac", "--out", "stems", "--format", "mp3"],
            "--format mp3: unsing writes wav (32-bit float), flac (24-bit) or ogg (Vorbis)",
        ),
        (
            ["separate", "song.flac", "--out", "done"],
            "done/vocals.wav: already exists; --overwrite replaces it",
        ),
        (["separate", "song.flac", "song.flac", "--out", "file.txt"], "cannot write there ("),
        (["separate", "song.flac", "--out", "stems", "--jobs", "0"], "--jobs 0: at least 1"),
        (["play", "song.flac", "--to", "k.mp3"], "k.mp3: unsing cannot write '.mp3'; it writes"),
        (["play", "song.flac", "--to", "./song.flac"], "that is the input song; choose another"),
        (["play", "song.flac", "--to", "done/vocals.wav"], "already exists; --overwrite replaces"),
        (
            ["play", "song.flac", "--to", "k.wav", "--stats-json", "file.txt/s.json"],
            "s.json: cannot write there (",
        ),
        (["play", "song.flac", "--to", "k.wav", "--stats-json", "song.flac"], "the input song"),
    ],
)
def test_bad_outputs_are_one_line_before_any_work(song_path, tmp_path, args, message) -> None:
    (tmp_path / "song.flac").write_bytes(song_path.read_bytes())
    (tmp_path / "file.txt").write_text("a file, not a folder")
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "vocals.wav").write_bytes(b"an earlier result")
    before = sorted(path.name for path in tmp_path.rglob("*"))
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unsing: error: "), result.stderr
    assert message in lines[0], lines[0]
    assert sorted(path.name for path in tmp_path.rglob("*")) == before  # nothing written
    assert (tmp_path / "done" / "vocals.wav").read_bytes() == b"an earlier result"


def test_overwrite_replaces_existing_stems(song_path, tmp_path) -> None:
    (tmp_path / "stems").mkdir()
    (tmp_path / "stems" / "vocals.wav").write_bytes(b"an earlier result")
    args = ("separate", str(song_path), "--out", str(tmp_path / "stems"), "--format", "flac")
    result = run(*args, "--overwrite", "--quiet")
    assert result.returncode == 0, result.stderr
    vocals, rate = read(tmp_path / "stems" / "vocals.flac")
    assert rate == 44100 and vocals.shape[0] == read(song_path)[0].shape[0]
    assert (tmp_path / "stems" / "vocals.wav").read_bytes() == b"an earlier result"  # not ours
    result = run(*args, "--to-karaoke", "--quiet")  # accompaniment.flac is there now
    assert result.returncode == 1 and "accompaniment.flac: already exists" in result.stderr


def test_play_to_a_file_writes_its_statistics(song_path, tmp_path) -> None:
    import json

    target, stats = tmp_path / "k.ogg", tmp_path / "stats" / "render.json"
    result = run("play", str(song_path), "--to", str(target), "--stats-json", str(stats))
    assert result.returncode == 0, result.stderr
    report = json.loads(stats.read_text())
    mixture, _ = read(song_path)
    assert report["mode"] == "render" and report["outputs"] == [str(target)]
    assert report["samples"] == mixture.shape[0] and report["sample_rate_hz"] == 44100
    assert report["audio_seconds"] == pytest.approx(4.0) and report["x_real_time"] > 0
    assert report["blocks"] >= 1 and report["gains"]["vocal_gain"] == 0.0
    karaoke, rate = read(target)
    assert rate == 44100 and karaoke.shape == mixture.shape


def test_play_to_a_file_with_griffin_lim_renders_the_engines_own_mix(song_path, tmp_path):
    import json

    target, stats = tmp_path / "gl.wav", tmp_path / "stats.json"
    args = ["--set", "engine.resynthesis=griffin_lim", "--stats-json", str(stats), "--quiet"]
    result = run("play", str(song_path), "--to", str(target), *args)
    assert result.returncode == 0, result.stderr
    mix, _ = read(target)
    mixture, _ = read(song_path)
    assert mix.shape == mixture.shape and 0.05 < np.std(mix) / np.std(mixture) < 1.0
    report = json.loads(stats.read_text())
    assert "griffin_lim" in report["source"] and report["engine"]["hops"] > 600


def test_status_line_shows_levels_gains_compute_misses_and_xruns() -> None:
    from unsing.cli.engine import status_line
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.gains import LiveParameters
    from unsing.realtime.render import render

    config = load_config()
    parameters = LiveParameters(0.0, 0.5, 1.0, a_cappella_gate=False)
    engine = SeparationEngine(config, OnnxMaskModel(config), parameters)
    signal = np.zeros((4096, 2), np.float32)
    signal[1000] = 0.5
    render(engine, signal)
    engine.stats.add("xrun_callbacks", 3)
    engine.stats.add("deadline_misses", 2)
    line = status_line(engine)
    assert "input   -6.0 dBFS" in line
    assert "vocal muted accomp -6.0 dB master +0.0 dB" in line
    assert "p50/p99 of 5.8" in line and "misses 2" in line and "xruns 3" in line
    assert " key " not in line
    engine.parameters.key_semitones, engine.parameters.key_cents = 2, -15.0
    assert "master +0.0 dB key +1.85 |" in status_line(engine)
    engine.parameters.key_cents = 0.0
    assert "master +0.0 dB key +2 |" in status_line(engine)
    engine.parameters.a_cappella_gate = True  # on; open (its last gain: 1)
    assert "master +0.0 dB gate key +2 |" in status_line(engine)
    engine._gate.gain = 0.1  # closed to -20 dB
    assert "master +0.0 dB gate -20 dB key +2 |" in status_line(engine)
    engine.parameters.bypass = True
    assert "BYPASS" in status_line(engine)
    assert "input   -inf dBFS" in status_line(engine)  # peaks reset after each line


def test_status_line_shows_the_microphone() -> None:
    """With a microphone: its peak level, gain, reverb, and the ducking (ON while ducked)."""
    from unsing.cli.engine import status_line
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.microphone import MicChannel

    config = load_config(
        overrides=["audio.mic_channel=3", "engine.duck=true", "engine.duck_attack_ms=0"]
    )
    engine = SeparationEngine(config, OnnxMaskModel(config))
    assert " mic " not in status_line(engine)
    mic = MicChannel(config, engine.parameters, engine.smoother, engine.stats)
    engine.parameters.mic_reverb = 0.25
    mic.listen(np.full(256, 0.1, np.float32))
    line = status_line(engine)
    assert "mic  -20.0 dBFS" in line
    assert "mic +0.0 dB reverb 0.25 duck ON" in line


def test_stop_signals_end_a_session_as_ctrl_c_and_handlers_come_back() -> None:
    """Inside ``stop_on_signals`` SIGINT (even if it was ignored) and SIGTERM raise
    KeyboardInterrupt, which ends the live session cleanly; after it, the handlers are back."""
    import signal
    import time

    from unsing.cli.engine import stop_on_signals

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a script's `&` job starts
    term_before = signal.getsignal(signal.SIGTERM)
    try:
        for number in (signal.SIGINT, signal.SIGTERM):
            with pytest.raises(KeyboardInterrupt), stop_on_signals():
                os.kill(os.getpid(), number)
                time.sleep(5)  # the handler interrupts the sleep
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == term_before
    finally:
        signal.signal(signal.SIGINT, previous)
