"""CC-to-audio delay: how long after a knob moves the engine's output changes.

On a JACK server, a JACK client plays a 1 kHz sine into the engine's input and records its
output; a virtual MIDI port (JACK MIDI) sends CC 7 (master gain, linear, -60..0 dB: 127 = unity,
0 = mute) alternately down and up. For each move, measured from the JACK frame at which the CC
was sent:

* ``first_change_ms``: until the output level first departs from its old value (>10% change);
* ``settled_ms``: until it is within 1 dB of the new value (unity) or below -40 dB (mute);
* ``audio_path_ms``: the part of either that is the audio latency itself (device input + output
  + the engine's stream delay), so ``first_change_ms - audio_path_ms`` is what MIDI delivery,
  the wait for the next hop and the overlap-add crossfade add.

    python -m unsing.benchmarks.midi_latency [--moves 10]

Writes ``benchmarks/results/midi_latency.json`` (with the machine and date).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from unsing.benchmarks.jack_io import ProbeClient, patch_stream
from unsing.benchmarks.machine import describe_machine
from unsing.benchmarks.stability import RESULTS, ensure_jack_server, stop_jack_server
from unsing.config import Config, load_config

PORT_NAME = "unsing-bench-knobs"
MAPPING = "{param: master_gain, cc: 7, mode: absolute, curve: linear, min_db: -60.0, max_db: 0.0}"


def _envelope(signal: np.ndarray, window: int) -> np.ndarray:
    """Peak level over a sliding window (one period of the sine and more)."""
    padded = np.concatenate([np.abs(signal), np.zeros(window)])
    view = np.lib.stride_tricks.sliding_window_view(padded, window)
    return view.max(axis=1)[: signal.shape[0]]


def measure(config: Config, moves: int = 10, interval_s: float = 0.4) -> dict[str, Any]:
    """Run the measurement on the current JACK server; returns per-move and summary numbers."""
    import jack
    import rtmidi

    from unsing.devices import import_sounddevice
    from unsing.realtime.engine import SeparationEngine
    from unsing.realtime.gains import LiveParameters
    from unsing.realtime.midi_control import ControlMap
    from unsing.realtime.midi_ports import MidiInputs
    from unsing.realtime.onnx_model import OnnxMaskModel
    from unsing.realtime.stream import EngineStream

    rate = config.contract.sample_rate_hz
    sd = import_sounddevice()
    sd._terminate()
    sd._initialize()
    parameters = LiveParameters(1.0, 1.0, 1.0)  # unity: the output is the input (any mask)
    engine = SeparationEngine(config, OnnxMaskModel(config), parameters, deadline=True)
    controls = ControlMap(config.midi, parameters)
    knobs = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "unsing-bench-midi")
    knobs.open_virtual_port(PORT_NAME)
    inputs = MidiInputs("jack", PORT_NAME, lambda message, port: controls.handle(message))
    seconds = 1.0 + moves * interval_s + 0.5
    t = np.arange(int(seconds * rate)) / rate
    sine = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    recorder = ProbeClient(jack, np.stack([sine, sine]), 0, "unsing-bench-recorder")
    before = {p.name for p in recorder.client.get_ports()}
    stream = EngineStream(config, engine)
    sent: list[tuple[int, int]] = []
    try:
        inputs.open()
        with stream, recorder.client:
            patch_stream(recorder.client, recorder.outs, recorder.ins, before, "unsing-bench")
            recorder.playing.set()
            time.sleep(1.0)
            for move in range(moves):
                value = 0 if move % 2 == 0 else 127
                knobs.send_message([0xB0, 7, value])
                sent.append((recorder.now_index(), value))
                time.sleep(interval_s)
            recorder.done.wait(timeout=seconds + 10)
            latency = stream.latency()
    finally:
        inputs.close()
        knobs.close_port()
        knobs.delete()
    audio_path = latency.input_samples + latency.output_samples + engine.delay_samples
    envelope = _envelope(recorder.recording[0], int(rate / 1000.0) + 8)
    results = []
    for index, (sent_at, value) in enumerate(sent):
        end = sent[index + 1][0] if index + 1 < len(sent) else envelope.shape[0]
        segment = envelope[sent_at:end]
        old = float(envelope[max(sent_at - 64, 0)])
        if value == 0:
            departed = np.flatnonzero(segment < 0.9 * old)
            settled = np.flatnonzero(segment < 0.5 * 10 ** (-40 / 20))
        else:
            departed = np.flatnonzero(segment > 0.1 * 0.5 + old)
            settled = np.flatnonzero(segment > 0.5 * 10 ** (-1 / 20))
        results.append(
            {
                "to": "mute" if value == 0 else "unity",
                "first_change_ms": round(1000.0 * departed[0] / rate, 2) if departed.size else None,
                "settled_ms": round(1000.0 * settled[0] / rate, 2) if settled.size else None,
            }
        )
    first = [r["first_change_ms"] for r in results if r["first_change_ms"] is not None]
    settled = [r["settled_ms"] for r in results if r["settled_ms"] is not None]
    stats = engine.stats.snapshot(reset_peaks=False)
    return {
        "moves": results,
        "first_change_ms": _summary(first),
        "settled_ms": _summary(settled),
        "audio_path_ms": round(1000.0 * audio_path / rate, 2),
        "hop_ms": round(1000.0 * engine.hop_seconds, 3),
        "gain_smoothing_ms": config.engine.gain_smoothing_ms,
        "midi_messages": dict(controls.counts),
        "engine": {k: stats[k] for k in ("callbacks", "xruns", "deadline_misses")},
    }


def _summary(values: list[float]) -> dict[str, float | int] | None:
    if not values:
        return None
    array = np.asarray(values)
    return {
        "count": int(array.size),
        "median": round(float(np.median(array)), 2),
        "max": round(float(array.max()), 2),
        "min": round(float(array.min()), 2),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m unsing.benchmarks.midi_latency``."""
    parser = argparse.ArgumentParser(prog="python -m unsing.benchmarks.midi_latency")
    parser.add_argument("--moves", type=int, default=10)
    parser.add_argument("--out", default=str(RESULTS / "midi_latency.json"))
    args = parser.parse_args(argv)
    config = load_config(
        overrides=["audio.host_api=JACK", f"midi.mappings=[{MAPPING}]", "midi.api=jack"]
    )
    server = ensure_jack_server(config.contract.sample_rate_hz, config.audio.blocksize_samples)
    try:
        result = measure(config, args.moves)
    finally:
        stop_jack_server(server)
    document = {"machine": describe_machine(), **result}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"midi_latency: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
