"""Engine statistics: preallocated counters written by the audio thread, read by any other.

The audio thread only stores into numpy arrays allocated here (no Python containers grow, no
locks). A reader takes a :meth:`EngineStats.snapshot`; a value may be one hop stale, never torn
in a way that matters for a status line or a test.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Counter names, in storage order.
COUNTERS = (
    "callbacks",  # audio callbacks (or rendered blocks)
    "hops",  # hops processed
    "model_runs",  # inferences run
    "deadline_misses",  # hops whose inference was skipped: the engine was behind its deadline
    "late_inferences",  # inferences that took longer than the deadline
    "bad_input_hops",  # hops with NaN/Inf input: zeroed before they reached any state
    "model_resets",  # non-finite model output: model state reset, previous mask reused
    "output_resets",  # non-finite output: resynthesis state reset, hop muted
    "alignment_underruns",  # output samples a block asked for before they existed (zeros)
    "xrun_callbacks",  # callbacks flagged with any xrun below: the xrun count (JACK flags
    # one xrun as both an input overflow and an output underflow: one event, counted once)
    "input_overflows",  # callback status flags (xruns) ...
    "input_underflows",
    "output_underflows",
    "output_overflows",
    "priming_outputs",
)
_INDEX = {name: i for i, name in enumerate(COUNTERS)}


def counter_index(name: str) -> int:
    """Position of counter ``name`` in :attr:`EngineStats.counts` (for the hot path)."""
    return _INDEX[name]


#: Whole-run histogram of per-hop compute time: 10 µs bins up to 100 ms (the last bin: more).
HISTOGRAM_BIN_S = 1e-5
HISTOGRAM_BINS = 10_000


def _histogram_percentiles_ms(histogram: np.ndarray, quantiles: tuple[float, ...]) -> dict:
    """``{"p50": ms, ...}`` of a :data:`HISTOGRAM_BIN_S` histogram: each its bin's centre."""
    cumulative = np.cumsum(histogram)
    return {
        f"p{q:g}": 1000.0
        * HISTOGRAM_BIN_S
        * (float(np.searchsorted(cumulative, q / 100.0 * cumulative[-1])) + 0.5)
        for q in quantiles
    }


def _record(histogram: np.ndarray, maximum: np.ndarray, seconds: float) -> None:
    """Count ``seconds`` in a :data:`HISTOGRAM_BIN_S` ``histogram`` (negative: the first bin)
    and raise ``maximum`` ``(1,)`` to it: stores into preallocated arrays only."""
    histogram[min(max(int(seconds / HISTOGRAM_BIN_S), 0), HISTOGRAM_BINS - 1)] += 1
    if seconds > maximum[0]:
        maximum[0] = seconds


def _summary_ms(histogram: np.ndarray, maximum: np.ndarray, count_name: str) -> dict:
    """p50 / p99 / p99.9 (bin centres, never above the exact maximum), the maximum and the
    count (under ``count_name``) of a :func:`_record` histogram, in ms."""
    highest = 1000.0 * float(maximum[0])
    percentiles = _histogram_percentiles_ms(histogram, (50, 99, 99.9))
    return {name: min(highest, value) for name, value in percentiles.items()} | {
        "max": highest,
        count_name: int(histogram.sum()),
    }


class EngineStats:
    """Counters, a ring of the last ``history`` per-hop compute times (seconds) and a
    whole-run histogram of them (so percentiles of a long run cover all of it)."""

    def __init__(self, history: int = 8192) -> None:
        self.counts = np.zeros(len(COUNTERS), np.int64)
        self.hop_seconds = np.zeros(history)
        self.hop_write = np.zeros(1, np.int64)  # total hops timed (write position = % history)
        self.hop_histogram = np.zeros(HISTOGRAM_BINS, np.int64)
        self.hop_max_s = np.zeros(1)
        self.reset_pending = np.zeros(1, np.bool_)  # set by request_reset, served by the engine
        self.peak_input = np.zeros(1)  # absolute peak since the last snapshot (status meters)
        self.peak_output = np.zeros(1)
        self.peak_mic = np.zeros(1)  # the singer's microphone, where one is metered
        self.mic_metered = False
        # how late each audio callback started its Python code after the audio system's
        # timestamp of the cycle (scheduling, the interpreter lock), above the run's lowest
        self.entry_histogram = np.zeros(HISTOGRAM_BINS, np.int64)
        self.entry_max_s = np.zeros(1)
        # each inference's compute time (with engine.model_thread: in the model thread)
        self.model_histogram = np.zeros(HISTOGRAM_BINS, np.int64)
        self.model_max_s = np.zeros(1)

    def record_hop(self, seconds: float) -> None:
        """One hop's compute time (audio thread: stores into preallocated arrays only)."""
        total = int(self.hop_write[0])
        self.hop_seconds[total % self.hop_seconds.shape[0]] = seconds
        self.hop_write[0] = total + 1
        self.hop_histogram[min(int(seconds / HISTOGRAM_BIN_S), HISTOGRAM_BINS - 1)] += 1
        if seconds > self.hop_max_s[0]:
            self.hop_max_s[0] = seconds

    def record_entry(self, delay_s: float) -> None:
        """One callback's entry delay (audio thread: preallocated arrays only)."""
        _record(self.entry_histogram, self.entry_max_s, delay_s)

    def record_model(self, seconds: float) -> None:
        """One inference's compute time (audio thread: preallocated arrays only)."""
        _record(self.model_histogram, self.model_max_s, seconds)

    def add(self, name: str, amount: int = 1) -> None:
        """Increment a counter (outside the hot path; the engine indexes ``counts`` directly)."""
        self.counts[_INDEX[name]] += amount

    def count(self, name: str) -> int:
        """One counter's current value."""
        return int(self.counts[_INDEX[name]])

    def request_reset(self, timeout_s: float = 2.0) -> bool:
        """Zero everything from another thread while the audio thread runs: the engine does it
        at the start of its next block, so no counter is caught half-updated. Returns whether
        it happened within ``timeout_s``."""
        import time

        self.reset_pending[0] = True
        deadline = time.monotonic() + timeout_s
        while self.reset_pending[0] and time.monotonic() < deadline:
            time.sleep(0.001)
        return not self.reset_pending[0]

    def reset(self) -> None:
        """Zero everything (a new measurement); from the audio thread, or while none runs."""
        self.counts.fill(0)
        self.hop_seconds.fill(0.0)
        self.hop_write.fill(0)
        self.hop_histogram.fill(0)
        self.hop_max_s.fill(0.0)
        self.peak_input.fill(0.0)
        self.peak_output.fill(0.0)
        self.peak_mic.fill(0.0)
        self.entry_histogram.fill(0)
        self.entry_max_s.fill(0.0)
        self.model_histogram.fill(0)
        self.model_max_s.fill(0.0)
        self.reset_pending[0] = False

    def hop_times_ms(self) -> np.ndarray:
        """The per-hop compute times still in the ring, oldest first, in ms (a copy)."""
        total = int(self.hop_write[0])
        size = self.hop_seconds.shape[0]
        if total <= size:
            return 1000.0 * self.hop_seconds[:total].copy()
        start = total % size
        return 1000.0 * np.concatenate([self.hop_seconds[start:], self.hop_seconds[:start]])

    def snapshot(self, reset_peaks: bool = True) -> dict[str, Any]:
        """Counters, xrun total, compute percentiles (ms) and peak levels (dBFS)."""
        counts = {name: int(self.counts[i]) for name, i in _INDEX.items()}
        counts["xruns"] = counts["xrun_callbacks"]
        total = int(self.hop_write[0])
        if 0 < total <= self.hop_seconds.shape[0]:  # every hop still in the ring: exact
            times = self.hop_times_ms()
            counts["hop_ms"] = {
                f"p{q:g}": float(np.percentile(times, q)) for q in (50, 90, 99, 99.9)
            } | {"max": float(times.max()), "hops": total}
        elif total:  # a long run: the whole-run histogram (10 µs resolution), exact maximum
            counts["hop_ms"] = _histogram_percentiles_ms(self.hop_histogram, (50, 90, 99, 99.9))
            counts["hop_ms"] |= {
                "max": 1000.0 * float(self.hop_max_s[0]),
                "hops": int(self.hop_histogram.sum()),
            }
        if self.entry_histogram.any():  # streams only: the start after the cycle's timestamp
            counts["entry_delay_ms"] = _summary_ms(
                self.entry_histogram, self.entry_max_s, "callbacks"
            )
        if self.model_histogram.any():
            counts["model_ms"] = _summary_ms(self.model_histogram, self.model_max_s, "runs")
        peaks = {"input": float(self.peak_input[0]), "output": float(self.peak_output[0])}
        if self.mic_metered:
            peaks["mic"] = float(self.peak_mic[0])
        if reset_peaks:
            self.peak_input.fill(0.0)
            self.peak_output.fill(0.0)
            self.peak_mic.fill(0.0)
        counts["peak_dbfs"] = {  # None: silence (JSON has no -inf)
            name: (20.0 * float(np.log10(value)) if value > 0 else None)
            for name, value in peaks.items()
        }
        return counts
