"""Key change: the engine's in-STFT pitch shift against Rubber Band (librubberband, real-time
mode) and Signalsmith Stretch, block by block as in a callback (issue 33).

Measured for each shifter:

* pitch: a 440 Hz tone shifted +2 semitones must come out at 493.88 Hz (cents error, from a
  zero-padded FFT peak of 1 s of steady output);
* a score: synthetic harmonic notes written in one key, shifted +k semitones, against the same
  score written k semitones higher (magnitude-spectrogram SNR after the best alignment: a
  phase vocoder keeps no waveform, so the waveform SNR says nothing);
* round trip: the demo song shifted +k then -k semitones against the input (the same
  spectral SNR: the shifter's artefacts, twice);
* latency the shifter adds (Rubber Band through ctypes: its start delay, which is not the
  whole of it fed 256 samples at a time; the product's stage: the constant it declares; ours:
  none, it works on the engine's own frames) and its time per 256-sample block (p50 / p99,
  the process pinned to one core).

    python -m lab.probes.key_change --out benchmarks/results/experiments/key-change.json

Rubber Band needs librubberband2 (``apt-get install librubberband2``): it is probed through
ctypes. Signalsmith Stretch needs ``pip install python-stretch==0.3.1``. Either missing: not
measured.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from unsing import PROJECT_ROOT
from unsing.realtime.pitch_shift import SpectralPitchShift

RATE_HZ = 44100
BLOCK = 256
N_FFT = 1024
DEMO = PROJECT_ROOT / "assets/demo/karissa_hobbs-lets_go_fishin.ogg"

# librubberband option flags (rubberband-c.h)
RB_REALTIME = 0x00000001
RB_THREADING_NEVER = 0x00010000
RB_WINDOW_SHORT = 0x00100000
RB_PITCH_HIGH_CONSISTENCY = 0x04000000
RB_CHANNELS_TOGETHER = 0x10000000
RB_ENGINE_FINER = 0x20000000


class OursShifter:
    """STFT (Hann, n_fft 1024, hop 256) -> SpectralPitchShift -> overlap-add, block by block:
    the engine's path with the separation left out. Its output is the input's delay through
    the STFT (n_fft - hop samples), which the engine has anyway: ``added_latency`` 0."""

    name = "ours (in-STFT phase vocoder)"
    added_latency = 0

    def __init__(self, semitones: float, channels: int) -> None:
        self.window = np.hanning(N_FFT + 1)[:N_FFT]  # periodic Hann
        self.shift = SpectralPitchShift(N_FFT, BLOCK, channels)
        self.shift.set_semitones(semitones)
        self.frame = np.zeros((channels, N_FFT))
        self.accumulator = np.zeros((channels, N_FFT))
        self.out_spectrum = np.zeros((channels, N_FFT // 2 + 1), np.complex128)
        # Hann analysis and synthesis at hop n/4: the squared windows sum to 1.5
        self.norm = 1.0 / 1.5

    def set_semitones(self, semitones: float) -> None:
        self.shift.set_semitones(semitones)

    def process(self, block: np.ndarray) -> np.ndarray:
        """``block`` ``(channels, BLOCK)`` -> ``(channels, BLOCK)``."""
        self.frame[:, :-BLOCK] = self.frame[:, BLOCK:]
        self.frame[:, -BLOCK:] = block
        spectrum = np.fft.rfft(self.frame * self.window, axis=1)
        self.shift.plan(spectrum)
        self.shift.apply(spectrum, self.out_spectrum)
        frame_out = np.fft.irfft(self.out_spectrum, n=N_FFT, axis=1) * self.window * self.norm
        self.accumulator += frame_out
        out = self.accumulator[:, :BLOCK].copy()
        self.accumulator[:, :-BLOCK] = self.accumulator[:, BLOCK:]
        self.accumulator[:, -BLOCK:] = 0.0
        return out

    @property
    def delay(self) -> int:
        return N_FFT - BLOCK


def _rubberband() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("rubberband")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.rubberband_new.restype = ctypes.c_void_p
    lib.rubberband_new.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_int, ctypes.c_double,
                                   ctypes.c_double]  # fmt: skip
    for function in ("rubberband_get_start_delay", "rubberband_get_latency",
                     "rubberband_get_preferred_start_pad"):  # fmt: skip
        getattr(lib, function).restype = ctypes.c_uint
        getattr(lib, function).argtypes = [ctypes.c_void_p]
    lib.rubberband_set_pitch_scale.argtypes = [ctypes.c_void_p, ctypes.c_double]
    lib.rubberband_process.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint,
                                       ctypes.c_int]  # fmt: skip
    lib.rubberband_available.restype = ctypes.c_int
    lib.rubberband_available.argtypes = [ctypes.c_void_p]
    lib.rubberband_retrieve.restype = ctypes.c_uint
    lib.rubberband_retrieve.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint]
    lib.rubberband_delete.argtypes = [ctypes.c_void_p]
    return lib


class RubberBandShifter:
    """librubberband in real-time mode, fed and drained one block at a time; the output lags
    by its start delay (``added_latency``), returned as zeros until it has output."""

    def __init__(self, lib: ctypes.CDLL, semitones: float, channels: int, finer: bool) -> None:
        options = RB_REALTIME | RB_THREADING_NEVER | RB_CHANNELS_TOGETHER
        options |= RB_PITCH_HIGH_CONSISTENCY
        if finer:
            options |= RB_ENGINE_FINER | RB_WINDOW_SHORT
        self.name = "Rubber Band R3 finer, short window" if finer else "Rubber Band R2 faster"
        self.lib = lib
        self.channels = channels
        self.state = lib.rubberband_new(RATE_HZ, channels, options, 1.0, 1.0)
        self.set_semitones(semitones)
        self.added_latency = int(lib.rubberband_get_start_delay(self.state))
        pad = int(lib.rubberband_get_preferred_start_pad(self.state))
        self.input = np.zeros((channels, BLOCK), np.float32)
        self.output = np.zeros((channels, 4 * BLOCK), np.float32)
        self.fifo = np.zeros((channels, 0), np.float32)
        self._in_pointers = (ctypes.c_void_p * channels)(
            *[self.input[c].ctypes.data for c in range(channels)]
        )
        self._out_pointers = (ctypes.c_void_p * channels)(
            *[self.output[c].ctypes.data for c in range(channels)]
        )
        # the pad the library asks for, so that its start delay is its whole latency
        for _ in range(pad // BLOCK):
            self.input.fill(0.0)
            self._push(BLOCK)
        if pad % BLOCK:
            self.input.fill(0.0)
            self._push(pad % BLOCK)
        self.fifo = self.fifo[:, :0]
        self.delay = self.added_latency

    def set_semitones(self, semitones: float) -> None:
        self.lib.rubberband_set_pitch_scale(self.state, 2.0 ** (semitones / 12.0))

    def _push(self, samples: int) -> None:
        self.lib.rubberband_process(self.state, self._in_pointers, samples, 0)
        while (available := self.lib.rubberband_available(self.state)) > 0:
            got = self.lib.rubberband_retrieve(
                self.state, self._out_pointers, min(available, self.output.shape[1])
            )
            self.fifo = np.concatenate([self.fifo, self.output[:, :got]], axis=1)

    def process(self, block: np.ndarray) -> np.ndarray:
        self.input[:] = block
        self._push(BLOCK)
        out = np.zeros((self.channels, BLOCK), np.float32)
        count = min(BLOCK, self.fifo.shape[1])
        # the stream's first blocks: zeros first, so the output keeps a constant delay
        out[:, BLOCK - count :] = self.fifo[:, :count]
        self.fifo = self.fifo[:, count:]
        return out

    def close(self) -> None:
        self.lib.rubberband_delete(self.state)


class SignalsmithShifter:
    """Signalsmith Stretch (python-stretch 0.3.1) fed one block at a time; ``window``: its
    block and interval samples (None: the library's default preset, 120 ms blocks)."""

    def __init__(self, semitones: float, channels: int, window: tuple[int, int] | None) -> None:
        from python_stretch.Signalsmith import Stretch

        self.stretch = Stretch(0)
        if window is None:
            self.stretch.preset(channels, float(RATE_HZ))
            self.name = "Signalsmith Stretch, default preset"
        else:
            self.stretch.configure(channels, *window)
            self.stretch.sampleRate = float(RATE_HZ)
            self.name = f"Signalsmith Stretch, block {window[0]} interval {window[1]}"
        self.set_semitones(semitones)
        self.added_latency = self.stretch.inputLatency() + self.stretch.outputLatency()
        self.delay = self.added_latency

    def set_semitones(self, semitones: float) -> None:
        self.stretch.setTransposeSemitones(semitones)

    def process(self, block: np.ndarray) -> np.ndarray:
        return self.stretch.process(np.ascontiguousarray(block, np.float32))


class ProductRubberBand:
    """The product's Rubber Band stage (``unsing.realtime.rubberband_shift``: R3 through
    pylibrb, its FIFO primed so that every key has the same declared latency)."""

    name = "Rubber Band R3 (pylibrb), the product's stage"

    def __init__(self, semitones: float, channels: int) -> None:
        from unsing.realtime.rubberband_shift import RubberBandShift

        self.stage = RubberBandShift(1, channels, RATE_HZ, BLOCK, semitones)
        self.added_latency = self.delay = self.stage.delay_samples

    def set_semitones(self, semitones: float) -> None:
        self.stage.set_key(semitones)

    def process(self, block: np.ndarray) -> np.ndarray:
        out = np.ascontiguousarray(block, dtype=np.float32)
        self.stage.process(out)
        return out


def run_blocks(shifter, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``signal`` ``(channels, samples)`` through ``shifter`` block by block, with
    ``shifter.delay`` samples more so that the whole signal comes out; returns the output
    aligned with the input and each block's seconds."""
    delay = shifter.delay
    padded = np.concatenate(
        [signal, np.zeros((signal.shape[0], delay + BLOCK), signal.dtype)], axis=1
    )
    blocks = padded.shape[1] // BLOCK
    out = np.zeros((signal.shape[0], blocks * BLOCK))
    seconds = np.zeros(blocks)
    for index in range(blocks):
        block = padded[:, index * BLOCK : (index + 1) * BLOCK]
        started = time.perf_counter()
        out[:, index * BLOCK : (index + 1) * BLOCK] = shifter.process(block)
        seconds[index] = time.perf_counter() - started
    return out[:, delay : delay + signal.shape[1]], seconds


def tone_pitch_hz(signal: np.ndarray) -> float:
    """The strongest frequency of ``signal`` ``(samples,)``: zero-padded FFT peak, refined by
    a parabola through the log magnitudes."""
    window = np.hanning(signal.size)
    spectrum = np.abs(np.fft.rfft(signal * window, n=16 * signal.size))
    peak = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[peak - 1 : peak + 2] + 1e-30)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (peak + offset) * RATE_HZ / (16 * signal.size)


def magnitudes(signal: np.ndarray, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """Magnitude STFT of the channels' mean ``(frames, bins)`` (Hann)."""
    mono = signal.mean(axis=0)
    frames = 1 + (mono.size - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    return np.abs(np.fft.rfft(mono[index] * np.hanning(n_fft), axis=1))


def spectral_snr_db(reference: np.ndarray, estimate: np.ndarray, search: int = 2048) -> tuple:
    """Magnitude-spectrogram SNR of ``estimate`` against ``reference`` ``(channels, samples)``
    (phase left out: a phase vocoder keeps no waveform), at the lag within +-``search``
    (steps of 32 samples) and the gain that fit best; returns ``(snr_db, lag)``."""
    edge = 4 * N_FFT  # the starts and ends left out
    best = (-np.inf, 0)
    for lag in range(-search, search + 1, 32):
        ref = reference[:, edge:-edge]
        est = estimate[:, edge + lag : estimate.shape[1] - edge + lag]
        a, b = magnitudes(ref), magnitudes(est)
        gain = float(np.sum(a * b) / np.sum(b * b))
        snr = 10.0 * np.log10(np.sum(a**2) / np.sum((a - gain * b) ** 2))
        if snr > best[0]:
            best = (snr, lag)
    return best


def synthetic_piece(semitones: float, seconds: float = 12.0, seed: int = 0) -> np.ndarray:
    """A score played by decaying harmonic notes (8 partials, random pitches and onsets,
    two or three at a time, slight stereo spread) at ``semitones`` from its written key:
    the same score at two keys is the ground truth of a shift between them."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * RATE_HZ)
    out = np.zeros((2, samples))
    t = np.arange(samples) / RATE_HZ
    ratio = 2.0 ** (semitones / 12.0)
    onset = 0.0
    while onset < seconds - 1.0:
        midi = rng.integers(40, 80)
        f0 = 440.0 * 2.0 ** ((midi - 69) / 12.0) * ratio
        length = rng.uniform(0.4, 1.5)
        pan = rng.uniform(0.3, 0.7)
        active = (t >= onset) & (t < onset + length)
        local = t[active] - onset
        envelope = np.minimum(local / 0.01, 1.0) * np.exp(-local * rng.uniform(1.0, 4.0))
        envelope *= np.minimum((onset + length - t[active]) / 0.02, 1.0)  # no click at the end
        note = np.zeros(local.size)
        for partial in range(1, 9):
            if f0 * partial < 0.45 * RATE_HZ:
                note += np.sin(2 * np.pi * f0 * partial * local + partial) / partial
        note *= 0.15 * envelope
        out[0, active] += (1 - pan) * note
        out[1, active] += pan * note
        onset += rng.uniform(0.1, 0.5)
    return out


def measure(make, song: np.ndarray, semitones: float) -> dict:
    """Pitch error, spectral fidelity and cost of the shifter ``make(semitones, channels)``."""
    t = np.arange(2 * RATE_HZ) / RATE_HZ
    tone = 0.5 * np.sin(2 * np.pi * 440.0 * t)[None, :].repeat(2, axis=0)
    shifter = make(2.0, 2)
    shifted, _ = run_blocks(shifter, tone)
    measured = tone_pitch_hz(shifted[0, RATE_HZ // 2 : RATE_HZ // 2 + RATE_HZ])
    expected = 440.0 * 2 ** (2 / 12)
    cents = 1200.0 * np.log2(measured / expected)
    # the same score written in two keys: the shift against the score played in the new key
    score = synthetic_piece(0.0)
    truth = synthetic_piece(semitones)
    played, _ = run_blocks(make(semitones, 2), score)
    score_snr, score_lag = spectral_snr_db(truth, played)
    up = make(semitones, song.shape[0])
    there, seconds = run_blocks(up, song)
    back, _ = run_blocks(make(-semitones, song.shape[0]), there)
    snr, lag = spectral_snr_db(song, back)
    per_block_ms = 1000.0 * seconds[10:]
    return {
        "shifter": up.name,
        "added_latency_samples": up.added_latency,
        "added_latency_ms": round(1000.0 * up.added_latency / RATE_HZ, 2),
        "tone_440_plus_2": {
            "expected_hz": round(expected, 3),
            "measured_hz": round(measured, 3),
            "cents_error": round(float(cents), 3),
        },
        f"score_plus_{semitones:g}_spectral_snr_db": round(float(score_snr), 2),
        f"score_plus_{semitones:g}_lag": score_lag,
        f"song_round_trip_plus_minus_{semitones:g}_spectral_snr_db": round(float(snr), 2),
        f"song_round_trip_plus_minus_{semitones:g}_lag": lag,
        "per_block_ms": {
            "p50": round(float(np.percentile(per_block_ms, 50)), 4),
            "p99": round(float(np.percentile(per_block_ms, 99)), 4),
            "max": round(float(per_block_ms.max()), 4),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.probes.key_change")
    parser.add_argument("--seconds", type=float, default=20.0, help="of the demo song")
    parser.add_argument("--semitones", type=float, default=3.0, help="of the round trip")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import soundfile

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    song, rate = soundfile.read(DEMO, dtype="float64", always_2d=True)
    assert rate == RATE_HZ
    start = 30 * RATE_HZ
    song = np.ascontiguousarray(song[start : start + int(args.seconds * RATE_HZ)].T)
    results = [measure(OursShifter, song, args.semitones)]
    try:
        import python_stretch  # noqa: F401
    except ImportError:
        print("python-stretch is not installed: Signalsmith Stretch not measured", flush=True)
    else:
        for window in ((N_FFT, BLOCK), None):
            results.append(
                measure(lambda s, c, w=window: SignalsmithShifter(s, c, w), song, args.semitones)
            )
    try:
        import pylibrb  # noqa: F401
    except ImportError:
        print("pylibrb is not installed: the product's Rubber Band stage not measured")
    else:
        results.append(measure(ProductRubberBand, song, args.semitones))
    lib = _rubberband()
    if lib is not None:
        for finer in (True, False):
            results.append(
                measure(lambda s, c, f=finer: RubberBandShifter(lib, s, c, f), song, args.semitones)
            )
    for row in results:
        print(json.dumps(row), flush=True)
    if args.out is not None:
        from unsing.benchmarks.machine import write_measured

        write_measured(args.out, {"song": DEMO.name, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
