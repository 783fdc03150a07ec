"""A microphone on a second device (realtime/mic_ring.py): the samples that cross from its
callback to the main one, in either order of the two callbacks and with clocks that drift."""

from __future__ import annotations

import numpy as np

from unsing.realtime.mic_ring import CROSSFADE_SAMPLES, EXCESS_PATIENCE_S, MicRing

RATE = 44100
BLOCK = 256


def _ramp(samples: int) -> np.ndarray:
    """A signal whose every sample says where it was (position / 1e6)."""
    return (np.arange(samples) / 1e6).astype(np.float32)


def _positions(block: np.ndarray) -> np.ndarray:
    return np.round(block * 1e6).astype(int)


def test_microphone_callback_first_adds_no_delay() -> None:
    ring, signal = MicRing(BLOCK, RATE), _ramp(BLOCK * 50)
    out = np.zeros(BLOCK, np.float32)
    for index in range(50):
        block = slice(index * BLOCK, (index + 1) * BLOCK)
        ring.write(signal[block])
        ring.read_into(out)
        if index == 0:  # the fade-in
            assert out[CROSSFADE_SAMPLES:].tolist() == signal[block][CROSSFADE_SAMPLES:].tolist()
        else:
            assert out.tolist() == signal[block].tolist()
    assert ring.counts == {"underruns": 0, "skips": 0} and ring.slack_samples == 0


def test_main_callback_first_settles_one_block_behind() -> None:
    """The main callback comes first in each cycle: it waits (silence) for the first block,
    then reads each block one cycle after it was written, every sample in order."""
    ring, signal = MicRing(BLOCK, RATE), _ramp(BLOCK * 60)
    out = np.zeros(BLOCK, np.float32)
    read = []
    for index in range(60):
        ring.read_into(out)
        read.append(_positions(out).copy())
        ring.write(signal[index * BLOCK : (index + 1) * BLOCK])
    steady = np.concatenate(read[10:])
    assert (np.diff(steady) == 1).all()
    assert steady[0] == 9 * BLOCK  # one block behind
    assert ring.counts["underruns"] == 0 and ring.slack_samples == 0


def _drifting(ring: MicRing, signal: np.ndarray, ratio: float, seconds: float) -> np.ndarray:
    """Each cycle the microphone's callback writes ``ratio`` blocks (its clock against the
    main one's), then the main one reads a block; returns what was read."""
    out = np.zeros(BLOCK, np.float32)
    written, owed, played = 0, 0.0, []
    for _ in range(int(seconds * RATE) // BLOCK):
        owed += BLOCK * ratio
        count = int(owed) - written
        ring.write(signal[written : written + count])
        written += count
        ring.read_into(out)
        played.append(out.copy())
    return np.concatenate(played)


def test_a_slow_microphone_clock_underruns_then_keeps_more_slack() -> None:
    """The microphone's device delivers 1 % fewer samples: underruns, each one adding a block of
    slack, never more than the maximum."""
    ring = MicRing(BLOCK, RATE)
    played = _drifting(ring, _ramp(RATE * 20), 0.99, 10.0)
    assert np.isfinite(played).all() and played.any()
    assert ring.counts["underruns"] >= 1
    assert ring.slack_samples <= 4 * BLOCK


def test_a_fast_microphone_clock_is_skipped_with_a_crossfade() -> None:
    """1 % more samples: the surplus grows; once it has lasted EXCESS_PATIENCE_S the reader
    jumps forward whole blocks with a crossfade: no step beyond the signal's own plus the
    crossfade's (a 1.0 peak-to-peak jump spread over CROSSFADE_SAMPLES), where a cut could
    step by 1.0."""
    ring = MicRing(BLOCK, RATE)
    tone = (0.5 * np.sin(2 * np.pi * 200 * np.arange(RATE * 20) / RATE)).astype(np.float32)
    played = _drifting(ring, tone, 1.01, 12.0)
    assert ring.counts["skips"] >= 1 and ring.counts["underruns"] == 0
    assert ring.fill_samples < 3 * BLOCK  # latency kept low
    own_step = np.abs(np.diff(tone[:RATE])).max()
    assert np.abs(np.diff(played[BLOCK:])).max() <= own_step + 1.0 / CROSSFADE_SAMPLES
    assert EXCESS_PATIENCE_S >= 0.5


def test_a_full_ring_drops_the_newest_samples() -> None:
    ring = MicRing(BLOCK, RATE)
    ring.write(np.ones(BLOCK * 40, np.float32))
    assert ring.dropped == BLOCK * 8 and ring.fill_samples == BLOCK * 32
