"""The ``unsing`` command line: help, info, devices, and one-line errors for user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_module

from unsing import cli, devices
from unsing.config import load_config
from unsing.errors import AudioSystemError
from unsing.latency import Latency

PROJECT_ROOT = Path(__file__).resolve().parent.parent
UNSING = Path(sys.executable).with_name("unsing")


def run_unsing(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed console script, as a user would."""
    return subprocess.run(
        [str(UNSING), *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("unsing: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_help_lists_the_commands() -> None:
    result = run_unsing("--help")
    assert result.returncode == 0
    for command in ("devices", "info"):
        assert command in result.stdout
    assert run_unsing("info", "--help").returncode == 0
    assert run_unsing("--version").stdout.strip() == "unsing 0.1.0"


def test_python_dash_m_runs_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "unsing", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "devices" in result.stdout


def test_info_prints_config_and_latency() -> None:
    result = run_unsing("info")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "n_fft 1024, hop 256 (5.80 ms), hann window, 513 bins" in out
    assert "algorithmic total          1024    23.22 ms" in out
    assert "output sample index = input index + 768" in out
    assert "vocals muted, accompaniment +0.0 dB" in out


def test_info_json_matches_the_latency_formula_and_flags() -> None:
    result = run_unsing("info", "--json", "--blocksize", "512")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    config = load_config(overrides=["audio.blocksize_samples=512"])
    assert report["latency"] == Latency.from_config(config).as_dict()
    assert report["latency"]["algorithmic_samples"] == 1024 + 256
    assert report["config"]["audio"]["blocksize_samples"] == 512
    assert report["config"]["engine"]["vocal_gain_db"] == -120.0
    assert report["model"]["contract"]["unsing.context_frames"] == "143"  # the shipped model
    assert report["model_settings"] == {
        "sample_rate_hz": 44100,
        "channels": 2,
        "n_fft": 1024,
        "hop_samples": 256,
        "window": "hann",
        "context_frames": 143,
        "lookahead_frames": 0,
    }


def test_another_model_is_one_flag_and_brings_its_own_settings() -> None:
    """The look-ahead model states 4 frames of look-ahead: its latency follows, no config."""
    lookahead4 = PROJECT_ROOT / "lab/models/lookahead4/unsing-lookahead4.onnx"
    result = run_unsing("info", "--json", "--model", str(lookahead4))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model_settings"]["lookahead_frames"] == 4
    assert report["latency"]["algorithmic_samples"] == 1024 + 4 * 256
    assert report["config"]["model"]["path"] == str(lookahead4)


def test_info_with_a_user_config_file(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("audio:\n  blocksize_samples: 512\n")
    result = run_unsing("info", "--json", "--config", "mine.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["latency"]["algorithmic_samples"] == 1024 + 256


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["info", "--set", "stft.hop_samples=300"],
            ["command line: stft.hop_samples: set by the model file (", "unsing-default.onnx"],
        ),
        (
            ["info", "--blocksize", "100"],
            ["audio.blocksize_samples = 100: must be a multiple of the model's hop_samples = 256"],
        ),
        (
            ["info", "--set", "engine.resyntesis=griffin_lim"],
            ["unknown key 'engine.resyntesis'", "did you mean 'engine.resynthesis'"],
        ),
        (["info", "--config", "/nonexistent/unsing.yaml"], ["config file not found"]),
        (["info", "/nonexistent/model.onnx"], ["model file not found"]),
    ],
)
def test_user_mistakes_are_one_line_errors(args: list[str], fragments: list[str]) -> None:
    assert_one_line_error(run_unsing(*args), *fragments)


def test_corrupt_model_is_a_one_line_error(tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.onnx"
    corrupt.write_bytes(b"\x08\x07garbage that is not a protobuf" * 10)
    assert_one_line_error(run_unsing("info", str(corrupt)), str(corrupt), "not a valid ONNX model")


def test_info_prints_the_contract_in_the_model_metadata(tmp_path: Path) -> None:
    onnx = require_module("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["magnitude"], ["mask"])],
        "tiny",
        [helper.make_tensor_value_info("magnitude", TensorProto.FLOAT, [1, 2, 513, "frames"])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 2, 513, "frames"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"sample_rate_hz": "44100", "n_fft": "1024"})
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))

    result = run_unsing("info", str(path))
    assert result.returncode == 0, result.stderr
    assert "sample_rate_hz: 44100" in result.stdout
    assert "not usable: " in result.stdout and "the model contract lacks" in result.stdout
    assert "input magnitude: [1, 2, 513, 'frames']" in result.stdout
    report = json.loads(run_unsing("info", "--json", "--model", str(path)).stdout)
    assert report["model"]["contract"] == {"sample_rate_hz": "44100", "n_fft": "1024"}


def test_devices_without_any_audio_system_explains_what_to_do(monkeypatch, capsys) -> None:
    monkeypatch.setattr(devices, "query_devices", lambda rescan=False: [])
    assert cli.main(["devices"]) == 1
    out = capsys.readouterr().out
    assert "no audio devices found" in out and "jackd -d dummy" in out


def test_info_without_audio_devices_still_reports_but_a_named_device_is_an_error(
    monkeypatch, capsys
) -> None:
    monkeypatch.setattr(devices, "query_devices", lambda rescan=False: [])
    assert cli.main(["info"]) == 0
    assert "no devices: no audio devices found" in capsys.readouterr().out
    assert cli.main(["info", "--output", "Scarlett"]) == 1
    assert "no audio devices found" in capsys.readouterr().err


def test_no_torch_in_the_core_or_the_live_engine() -> None:
    """The live engine needs numpy, scipy, onnxruntime, sounddevice, python-rtmidi only."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import unsing, unsing.cli, unsing.config, unsing.stft, unsing.devices, unsing.latency\n"
        "import unsing.model_file, unsing.realtime\n"
        "for module in pkgutil.walk_packages(unsing.realtime.__path__, 'unsing.realtime.'):\n"
        "    importlib.import_module(module.name)\n"
        "unsing.cli.main(['info', '--json'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_devices_without_portaudio_is_a_one_line_error(monkeypatch, capsys) -> None:
    def missing() -> None:
        raise AudioSystemError(
            "PortAudio is not available (x); install it: `apt-get install libportaudio2`"
        )

    monkeypatch.setattr(devices, "import_sounddevice", missing)
    assert cli.main(["devices"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "unsing: error: PortAudio is not available (x); install it: `apt-get install libportaudio2`"
    ]


def test_missing_command_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main([])
    assert caught.value.code == 2


def test_ctrl_c_while_the_command_line_loads_is_one_line(monkeypatch, capsys) -> None:
    """The console script's entry point (unsing.entry) catches a KeyboardInterrupt raised while
    it imports the command line (numpy, onnxruntime, ...): one line, status 130."""
    import types

    from unsing import entry

    class Interrupted(types.ModuleType):
        def __getattr__(self, name: str):
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "unsing.cli", Interrupted("unsing.cli"))
    assert entry.main() == 130
    assert capsys.readouterr().err == "unsing: interrupted\n"


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("3", {"audio.mic_channel": 3, "audio.mic_device": None}),
        ("USB Mic", {"audio.mic_device": "USB Mic", "audio.mic_channel": 1}),
        ("USB Mic:2", {"audio.mic_device": "USB Mic", "audio.mic_channel": 2}),
        ("5:1", {"audio.mic_device": "5", "audio.mic_channel": 1}),
        ("hw:1,0", {"audio.mic_device": "hw:1,0", "audio.mic_channel": 1}),
    ],
)
def test_mic_option_names_a_channel_or_a_device(text: str, keys: dict) -> None:
    from unsing.cli.options import mic_spec

    assert mic_spec(text) == keys


def test_microphone_settings_in_info_and_their_errors(tmp_path: Path) -> None:
    """`unsing info` shows the microphone and its latency row; a device without a channel
    and a reverb out of range are one-line errors."""
    result = run_unsing(
        "info",
        "--set",
        "audio.mic_channel=3",
        "--set",
        "engine.duck=true",
        "--set",
        "engine.mic_reverb=0.25",
    )
    assert result.returncode == 0, result.stderr
    assert (
        "microphone    channel 3 of the input device; gain +0.0 dB, reverb 0.25, guide "
        "vocal ducks to -30.0 dB above -40 dBFS" in result.stdout
    )
    assert "  microphone                    0     0.00 ms  + device buffers" in result.stdout
    assert "microphone    off (--mic CHANNEL or --mic DEVICE)" in run_unsing("info").stdout
    assert_one_line_error(
        run_unsing("info", "--set", "audio.mic_device=USB"),
        "audio.mic_device = 'USB'",
        "audio.mic_channel is null",
    )
    for argv, fragment in ((["--reverb", "2"], "must be from 0 to 1"), (["--mic", ""], "name a")):
        result = run_unsing("run", *argv)
        assert result.returncode == 2 and fragment in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    result = run_unsing("info", "--set", "engine.mic_reverb=2")
    assert_one_line_error(result, "engine.mic_reverb = 2")
