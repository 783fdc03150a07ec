"""Latency: the formula against a measured round trip through the JACK dummy server.

For each configuration, the engine runs at unity gains (its output is then its input, delayed,
whatever the mask), a JACK client sends a click-and-chirp probe into the engine's input ports
and records its output, and the delay is found by cross-correlation. It is compared with what
the formula predicts for that recording: the device latency PortAudio reports for the stream
(input + output) plus the engine's stream delay (``unsing.latency``: the algorithmic latency
less the one block of capture, which the JACK cycle itself provides).

The default configuration runs the shipped model; others (other STFT sizes, look-ahead) run a
constant mask, which leaves the latency unchanged and needs no model trained for them.

    python -m unsing.benchmarks.latency

Writes ``benchmarks/results/latency.json`` (with the machine and date).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import correlate

from unsing.benchmarks.jack_io import ProbeClient, patch_stream
from unsing.benchmarks.machine import describe_machine
from unsing.benchmarks.stability import RESULTS, ensure_jack_server, stop_jack_server
from unsing.config import Config, load_config
from unsing.contract import ModelContract
from unsing.latency import Latency

#: (label, config overrides, changes to the shipped model's contract: a constant-mask model
#: with that STFT or look-ahead); the first runs the shipped model itself.
CONFIGURATIONS: tuple[tuple[str, tuple[str, ...], dict[str, int]], ...] = (
    ("default (model)", (), {}),
    ("block 512", ("audio.blocksize_samples=512",), {}),
    ("block 1024", ("audio.blocksize_samples=1024",), {}),
    ("n_fft 512 hop 128", (), {"n_fft": 512, "hop_samples": 128}),
    (
        "n_fft 2048 hop 512, block 512",
        ("audio.blocksize_samples=512",),
        {"n_fft": 2048, "hop_samples": 512},
    ),
    ("look-ahead 2", (), {"lookahead_frames": 2}),
    ("online Griffin-Lim, look-ahead 3", ("engine.resynthesis=griffin_lim",), {}),
    ("key +2 (STFT)", ("engine.key_semitones=2", "engine.key_shifter=stft"), {}),
    ("key +2 (Rubber Band)", ("engine.key_semitones=2", "engine.key_shifter=rubberband"), {}),
)


def contract_with(contract: ModelContract, changes: dict[str, int]) -> ModelContract:
    """``contract`` with some of its fields (``n_fft`` and ``hop_samples`` of its STFT) changed."""
    stft = {key: changes[key] for key in ("n_fft", "hop_samples") if key in changes}
    rest = {key: value for key, value in changes.items() if key not in stft}
    return dataclasses.replace(
        contract, stft=dataclasses.replace(contract.stft, **stft), source="benchmark", **rest
    )


def _as_keys(changes: dict[str, int]) -> list[str]:
    """Contract changes as the ``section.key=value`` texts the results have always shown."""
    names = {"n_fft": "stft.n_fft", "hop_samples": "stft.hop_samples"}
    return [f"{names.get(k, 'model.' + k)}={v}" for k, v in changes.items()]


class ConstantMask:
    """A mask model that always answers 0.5 (latency does not depend on the mask)."""

    def __init__(self, channels: int, bins: int) -> None:
        self.channels, self.bins = channels, bins
        self.long_band = None
        self._mask = np.full((channels, bins), 0.5, np.float32)

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        return self._mask

    def skip(self, magnitude: np.ndarray) -> None:
        """Nothing to remember."""

    def reset(self) -> None:
        """Nothing to forget."""


def probe_signal(sample_rate_hz: int, seconds: float = 1.0) -> np.ndarray:
    """(2, samples) float32: clicks and a chirp, different on each channel."""
    t = np.arange(int(seconds * sample_rate_hz)) / sample_rate_hz
    left = 0.3 * np.sin(2 * np.pi * (200.0 * t + 4000.0 * t**2)) * np.hanning(t.size)
    right = 0.3 * np.sin(2 * np.pi * (6000.0 * t - 2500.0 * t**2)) * np.hanning(t.size)
    left[sample_rate_hz // 10 :: sample_rate_hz // 4] += 0.5
    return np.stack([left, right]).astype(np.float32)


def burst_signal(sample_rate_hz: int, seconds: float = 1.0) -> np.ndarray:
    """(2, samples) float32: Hann-windowed 660 Hz tone bursts (2048 samples) every 0.25 s, for
    a key change: a shifted chirp no longer correlates with the chirp, a burst's envelope
    stays where it was."""
    signal = np.zeros((2, int(seconds * sample_rate_hz)), np.float32)
    burst = 0.3 * np.hanning(2048) * np.sin(2 * np.pi * 660.0 * np.arange(2048) / sample_rate_hz)
    for start in range(sample_rate_hz // 10, signal.shape[1] - 2048, sample_rate_hz // 4):
        signal[:, start : start + 2048] = burst
    return signal


def envelope(signal: np.ndarray) -> np.ndarray:
    """Magnitude smoothed over 256 samples."""
    return np.convolve(np.abs(signal), np.ones(256) / 256, mode="same")


def measure_one(config: Config, use_model: bool) -> dict[str, Any]:
    """Round trip of one configuration; formula and measurement in samples and ms (with a key
    change: by the tone bursts' envelopes, :func:`burst_signal`)."""
    import jack

    from unsing.devices import import_sounddevice
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.gains import LiveParameters
    from unsing.realtime.onnx_model import OnnxMaskModel
    from unsing.realtime.stream import EngineStream

    sd = import_sounddevice()
    sd._terminate()
    sd._initialize()
    rate = config.contract.sample_rate_hz
    bins = config.contract.stft.n_fft // 2 + 1
    model = OnnxMaskModel(config) if use_model else ConstantMask(config.contract.channels, bins)
    key = config.engine.key_semitones
    parameters = LiveParameters(1.0, 1.0, 1.0, key_semitones=key)
    engine = SeparationEngine(config, model, parameters, deadline=True)
    signal = probe_signal(rate) if key == 0 else burst_signal(rate)
    probe = ProbeClient(jack, signal, rate // 2, "unsing-bench-latency")
    before = {p.name for p in probe.client.get_ports()}
    stream = EngineStream(config, engine)
    with stream, probe.client:
        patch_stream(probe.client, probe.outs, probe.ins, before, "unsing-bench")
        time.sleep(0.3)
        probe.playing.set()
        probe.done.wait(timeout=30)
        device = stream.latency()
    if key == 0:
        correlation = correlate(probe.recording[0], signal[0], mode="valid", method="fft")
    else:
        recorded = envelope(probe.recording[0])
        correlation = correlate(recorded, envelope(signal[0]), mode="valid", method="fft")
    measured = int(np.argmax(correlation))
    formula = Latency.from_config(config)
    predicted = device.input_samples + device.output_samples + formula.stream_delay_samples
    ms = 1000.0 / rate
    stats = engine.stats.snapshot(reset_peaks=False)
    return {
        "algorithmic_samples": formula.algorithmic_samples,
        "algorithmic_ms": round(formula.algorithmic_ms, 2),
        "device_samples": device.input_samples + device.output_samples,
        "predicted_round_trip_samples": predicted,
        "measured_round_trip_samples": measured,
        "predicted_round_trip_ms": round(predicted * ms, 2),
        "measured_round_trip_ms": round(measured * ms, 2),
        "error_samples": measured - predicted,
        "xruns": stats["xruns"],
        "deadline_misses": stats["deadline_misses"],
    }


def run(
    configurations: tuple[tuple[str, tuple[str, ...], dict[str, int]], ...],
) -> dict[str, Any]:
    """Every configuration on one JACK server; the result document."""
    base = load_config(overrides=["audio.host_api=JACK"])
    server = ensure_jack_server(base.contract.sample_rate_hz, base.audio.blocksize_samples)
    rows = []
    try:
        for index, (label, overrides, changes) in enumerate(configurations):
            contract = contract_with(base.contract, changes) if changes else None
            config = load_config(overrides=["audio.host_api=JACK", *overrides], contract=contract)
            row = {"configuration": label, "overrides": [*overrides, *_as_keys(changes)]}
            row |= measure_one(config, use_model=index == 0)
            print(f"latency: {json.dumps(row)}", file=sys.stderr, flush=True)
            rows.append(row)
    finally:
        stop_jack_server(server)
    return {"machine": describe_machine(), "jack_period_samples": 256, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    """``python -m unsing.benchmarks.latency``."""
    parser = argparse.ArgumentParser(prog="python -m unsing.benchmarks.latency")
    parser.add_argument("--out", default=str(RESULTS / "latency.json"))
    args = parser.parse_args(argv)
    document = run(CONFIGURATIONS)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(document, indent=2) + "\n")
    print(f"latency: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
