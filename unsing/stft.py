"""The one STFT definition used by training, export and the live engine.

Definition (``n_fft`` = N, ``hop_samples`` = H, N a multiple of H):

* Frame ``t`` holds samples ``[(t + 1) * H - N, (t + 1) * H)`` of the signal, zeros before the
  start: the frame is complete as soon as its newest hop has arrived, which is what a causal
  streaming analysis can compute. A signal of L samples has ``ceil(L / H) + N / H - 1`` frames
  (the last ``N / H - 1`` frames flush the tail).
* Analysis: periodic window ``w`` (``hann``, ``hamming``, ``blackman`` or ``sqrt_hann``), then an
  unnormalised real FFT (``numpy.fft.rfft``; ``torch.stft(..., normalized=False)``).
  Bins: ``N // 2 + 1``.
* Synthesis: weighted overlap-add with the dual window ``w / sum_k w(n + kH)^2``, which
  reconstructs the signal exactly for every window whose squared copies overlap without gaps.
* Streaming synthesis emits the hop that no later frame touches, so the output stream lags the
  input stream by ``N - H`` samples; ``istft`` returns the signal without that lag.
* The streaming classes compute in float64 by default: numpy's FFT runs float32 input through a
  float64 cast buffer (an allocation every call), float64 with ``out=`` allocates nothing.

Shapes use the project's vocabulary: ``(..., samples)`` for time signals and
``(..., bins, frames)`` for spectrograms; the streaming classes take ``(channels, hop)`` blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The analysis windows (periodic) the STFT knows.
WINDOWS = ("hann", "hamming", "blackman", "sqrt_hann")

#: The smallest overlap sum of squared windows, relative to its largest, that still counts as
#: reconstructable (smaller sums would amplify noise by more than 40 dB).
_MIN_RELATIVE_OVERLAP = 1e-2


@dataclass(frozen=True)
class StftSpec:
    """STFT parameters: window length, hop and window name."""

    n_fft: int
    hop_samples: int
    window: str = "hann"

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ValueError(f"window {self.window!r}: allowed {', '.join(WINDOWS)}")
        if self.n_fft % self.hop_samples or self.n_fft % 2:
            raise ValueError(
                f"n_fft {self.n_fft} must be even and a multiple of hop_samples {self.hop_samples}"
            )

    @property
    def bins(self) -> int:
        """Frequency bins per frame: ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def overlap(self) -> int:
        """Frames that overlap each sample: ``n_fft // hop_samples``."""
        return self.n_fft // self.hop_samples

    @property
    def stream_delay_samples(self) -> int:
        """How far the streaming synthesis output lags its input: ``n_fft - hop_samples``."""
        return self.n_fft - self.hop_samples

    @property
    def frame_samples(self) -> int:
        """Samples each analysis frame holds (the analysis window's length): ``n_fft``."""
        return self.n_fft

    @property
    def synthesis_samples(self) -> int:
        """Newest samples of a frame that its synthesis window covers: ``n_fft``."""
        return self.n_fft

    def frame_count(self, num_samples: int) -> int:
        """Frames of a signal of ``num_samples`` samples, tail flushed."""
        return -(-num_samples // self.hop_samples) + self.overlap - 1

    def analysis_window(self, dtype: np.dtype | type = np.float64) -> np.ndarray:
        """The analysis window, shape ``(n_fft,)``."""
        return analysis_window(self.window, self.n_fft).astype(dtype)

    def synthesis_window(self, dtype: np.dtype | type = np.float64) -> np.ndarray:
        """The dual (synthesis) window, shape ``(n_fft,)``."""
        return synthesis_window(analysis_window(self.window, self.n_fft), self.hop_samples).astype(
            dtype
        )

    def synthesis_tail(self, dtype: np.dtype | type = np.float64) -> np.ndarray:
        """The synthesis window over the newest ``synthesis_samples`` of a frame (all of it)."""
        return self.synthesis_window(dtype)


#: Periodic windows as sums of cosines, computed as ``scipy.signal.get_window(name, N,
#: fftbins=True)`` computes them (the same coefficients and arithmetic, so the same bits:
#: tested), with numpy alone: scipy.signal's import takes 0.7 s of every command's start-up.
_COSINE_COEFFICIENTS = {
    "hann": (0.5, 1.0 - 0.5),
    "hamming": (0.54, 1.0 - 0.54),
    "blackman": (0.42, 0.50, 0.08),
}


def _cosine_window(name: str, samples: int) -> np.ndarray:
    """Periodic window ``name`` (``hann``, ``hamming``, ``blackman``), float64: the symmetric
    window of ``samples + 1`` points without its last one."""
    if samples <= 1:
        return np.ones(samples)
    phase = np.linspace(-np.pi, np.pi, samples + 1)
    window = np.zeros(samples + 1)
    for k, coefficient in enumerate(_COSINE_COEFFICIENTS[name]):
        window += coefficient * np.cos(k * phase)
    return window[:-1]


def analysis_window(name: str, n_fft: int) -> np.ndarray:
    """Periodic analysis window ``name`` of ``n_fft`` samples (float64)."""
    if name == "sqrt_hann":
        return np.sqrt(np.maximum(_cosine_window("hann", n_fft), 0.0))
    return _cosine_window(name, n_fft)


def _overlap_sum(window: np.ndarray, hop_samples: int) -> np.ndarray:
    """``sum_k window(n + k * hop)^2`` for ``n`` in one hop, shape ``(hop,)``."""
    return (window.astype(np.float64) ** 2).reshape(-1, hop_samples).sum(axis=0)


def synthesis_window(analysis: np.ndarray, hop_samples: int) -> np.ndarray:
    """Dual window for weighted overlap-add: ``analysis / overlap_sum`` (float64)."""
    overlap = np.tile(_overlap_sum(analysis, hop_samples), len(analysis) // hop_samples)
    return analysis.astype(np.float64) / overlap


def window_overlap_ok(name: str, n_fft: int, hop_samples: int) -> bool:
    """Whether the squared windows overlap enough (no near-zero gaps) to reconstruct."""
    if n_fft % hop_samples:
        return False
    overlap = _overlap_sum(analysis_window(name, n_fft), hop_samples)
    return bool(overlap.min() > _MIN_RELATIVE_OVERLAP * overlap.max())


def stft(signal: np.ndarray, spec: StftSpec | LongWindowSpec) -> np.ndarray:
    """One-shot STFT.

    Args:
        signal: real array ``(..., samples)``; float32 gives complex64, float64 complex128.
        spec: the STFT parameters.

    Returns:
        Complex spectrogram ``(..., bins, frames)`` with ``spec.frame_count(samples)`` frames.
    """
    signal = np.asarray(signal)
    if not np.issubdtype(signal.dtype, np.floating):
        signal = signal.astype(np.float64)
    num_samples = signal.shape[-1]
    frames = spec.frame_count(num_samples)
    lead = spec.frame_samples - spec.hop_samples
    tail = frames * spec.hop_samples - num_samples  # padded length: frames * hop + lead
    pad = [(0, 0)] * (signal.ndim - 1) + [(lead, tail)]
    padded = np.pad(signal, pad)
    windows = np.lib.stride_tricks.sliding_window_view(padded, spec.frame_samples, axis=-1)
    windows = windows[..., :: spec.hop_samples, :][..., :frames, :]
    spectrum = np.fft.rfft(windows * spec.analysis_window(signal.dtype), axis=-1)
    return np.swapaxes(spectrum, -1, -2)


def istft(spectrum: np.ndarray, spec: StftSpec | LongWindowSpec, num_samples: int) -> np.ndarray:
    """Inverse of :func:`stft` by weighted overlap-add.

    Args:
        spectrum: complex ``(..., bins, frames)``.
        spec: the STFT parameters.
        num_samples: length of the signal to return.

    Returns:
        Real signal ``(..., num_samples)``, aligned with the signal ``stft`` analysed (no lag).
    """
    spectrum = np.asarray(spectrum)
    real_dtype = np.float32 if spectrum.dtype == np.complex64 else np.float64
    frames = spectrum.shape[-1]
    hop, length = spec.hop_samples, spec.synthesis_samples
    pieces = np.fft.irfft(np.swapaxes(spectrum, -1, -2), n=spec.frame_samples, axis=-1)
    # (..., frames, synthesis_samples): the newest samples of each frame, windowed
    pieces = pieces[..., spec.frame_samples - length :] * spec.synthesis_tail(real_dtype)
    # Overlap-add as a sum of `overlap` shifted, non-overlapping tilings.
    overlap = length // hop
    lead_shape = pieces.shape[:-2]
    output = np.zeros((*lead_shape, (frames + overlap - 1) * hop), dtype=real_dtype)
    chunks = pieces.reshape(*lead_shape, frames, overlap, hop)
    for k in range(overlap):
        part = chunks[..., k, :].reshape(*lead_shape, frames * hop)
        output[..., k * hop : k * hop + frames * hop] += part
    lead = length - hop
    result = output[..., lead : lead + num_samples]
    if result.shape[-1] < num_samples:
        result = np.concatenate(
            [result, np.zeros((*lead_shape, num_samples - result.shape[-1]), real_dtype)], -1
        )
    return result


class StreamingStft:
    """Streaming analysis: one hop of samples in, one frame out; no allocation per call.

    The newest ``frame_samples`` samples live in a mirrored ring (each sample stored twice,
    ``frame_samples`` apart) so the current window is always one contiguous view. Works for the
    project STFT and the long-window one alike.
    """

    def __init__(
        self, spec: StftSpec | LongWindowSpec, channels: int, dtype: type = np.float64
    ) -> None:
        self.spec = spec
        self.channels = channels
        length = spec.frame_samples
        self._window = spec.analysis_window(dtype)
        self._ring = np.zeros((channels, 2 * length), dtype=dtype)
        self._windowed = np.zeros((channels, length), dtype=dtype)
        complex_dtype = np.complex64 if np.dtype(dtype) == np.float32 else np.complex128
        self._frame = np.zeros((channels, spec.bins), dtype=complex_dtype)
        self._write = 0

    def reset(self) -> None:
        """Forget all past input (as if the stream had just started)."""
        self._ring.fill(0.0)
        self._write = 0

    def process(self, hop_block: np.ndarray) -> np.ndarray:
        """Push ``(channels, hop)`` new samples; return the newest frame ``(channels, bins)``.

        The returned array is reused by the next call: copy it to keep it.
        """
        hop, length, start = self.spec.hop_samples, self.spec.frame_samples, self._write
        self._ring[:, start : start + hop] = hop_block
        self._ring[:, start + length : start + length + hop] = hop_block
        self._write = (start + hop) % length
        oldest = self._write
        np.multiply(self._ring[:, oldest : oldest + length], self._window, out=self._windowed)
        np.fft.rfft(self._windowed, axis=-1, out=self._frame)
        return self._frame


class StreamingIstft:
    """Streaming synthesis: one frame in, one hop of samples out; no allocation per call.

    Output lags the analysed input by ``synthesis_samples - hop_samples`` samples (``n_fft -
    hop_samples`` for the project STFT and for its long-window companion alike).
    """

    def __init__(
        self, spec: StftSpec | LongWindowSpec, channels: int, dtype: type = np.float64
    ) -> None:
        self.spec = spec
        self.channels = channels
        length = spec.synthesis_samples
        # Full (channels, length) window: numpy buffers a broadcast in-place multiply (allocates).
        self._window = np.tile(spec.synthesis_tail(dtype), (channels, 1))
        self._frame = np.zeros((channels, spec.frame_samples), dtype=dtype)  # irfft output
        self._piece = np.zeros((channels, length), dtype=dtype)
        # Windowing the newest samples of a longer frame: one contiguous row at a time (a 2-D
        # strided operand makes numpy buffer, i.e. allocate, on every call).
        start = spec.frame_samples - length
        self._rows = [
            (self._frame[c, start:], self._window[c], self._piece[c]) for c in range(channels)
        ]
        self._ring = np.zeros((channels, length), dtype=dtype)  # overlap-add accumulator
        self._hop = np.zeros((channels, spec.hop_samples), dtype=dtype)
        self._read = 0
        # process_late: the previous frame's final piece, beside the newest frame's
        self._final_piece = np.zeros((channels, length), dtype=dtype)
        self._final_rows = [
            (self._frame[c, start:], self._window[c], self._final_piece[c]) for c in range(channels)
        ]

    def reset(self) -> None:
        """Drop all pending overlap-add state."""
        self._ring.fill(0.0)
        self._read = 0

    def _synthesise(self, frame: np.ndarray, piece: np.ndarray, rows: list) -> None:
        """``frame``'s windowed samples into ``piece`` (``rows``: its per-channel views)."""
        np.fft.irfft(frame, n=self.spec.frame_samples, axis=-1, out=self._frame)
        if self.spec.frame_samples == self.spec.synthesis_samples:
            np.multiply(self._frame, self._window, out=piece)
        else:
            for newest, window, out in rows:
                np.multiply(newest, window, out=out)

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Add one ``(channels, bins)`` frame; return the finished ``(channels, hop)`` samples.

        The returned array is reused by the next call: copy it to keep it.
        """
        hop, length, start = self.spec.hop_samples, self.spec.synthesis_samples, self._read
        self._synthesise(frame, self._piece, self._rows)
        head = length - start
        self._ring[:, start:] += self._piece[:, :head]
        self._ring[:, :start] += self._piece[:, head:]
        self._hop[:] = self._ring[:, start : start + hop]
        self._ring[:, start : start + hop] = 0.0
        self._read = (start + hop) % length
        return self._hop

    def process_late(self, provisional: np.ndarray, final_previous: np.ndarray) -> np.ndarray:
        """Overlap-add for a mask that comes a hop late; returns the finished hop as
        :meth:`process` does.

        ``final_previous`` is the previous frame as it should be (its mask has come): all of
        it but its first hop, which the previous call emitted, joins the accumulator.
        ``provisional`` is the newest frame with the mask it has now (the previous frame's):
        only its first hop, which must be emitted now, is used. So each output sample has
        every frame's final contribution except the newest frame's, whose window is smallest
        there (the first quarter of a Hann window at 75 % overlap). Calls must not mix with
        :meth:`process` (the first call's ``final_previous`` is then a silent frame).
        """
        hop, length, start = self.spec.hop_samples, self.spec.synthesis_samples, self._read
        self._synthesise(final_previous, self._final_piece, self._final_rows)
        # the previous frame started one hop before this frame: its tail starts here
        tail = length - hop
        first = min(tail, length - start)
        self._ring[:, start : start + first] += self._final_piece[:, hop : hop + first]
        if first < tail:
            self._ring[:, : tail - first] += self._final_piece[:, hop + first :]
        self._synthesise(provisional, self._piece, self._rows)
        np.add(self._ring[:, start : start + hop], self._piece[:, :hop], out=self._hop)
        self._ring[:, start : start + hop] = 0.0
        self._read = (start + hop) % length
        return self._hop


@dataclass(frozen=True)
class LongWindowSpec:
    """A long-window STFT with the latency of the project STFT ``short``.

    An asymmetric analysis window of ``analysis_samples`` (N) samples whose synthesis window
    covers only the frame's newest ``short.n_fft`` (M) samples (Mauler and Martin, "A low
    delay, variable resolution, perfect reconstruction spectral analysis-synthesis system for
    speech enhancement", EUSIPCO 2007): the frequency resolution of a long window, the latency
    of a short one. The low band uses it, where bass and voice share the lowest bins.

    * Frame ``t`` holds samples ``[(t + 1) * H - N, (t + 1) * H)``: it ends where the project
      STFT's frame ``t`` ends, and a signal has as many frames (``short.frame_count``).
    * Analysis: the rising half of a periodic sqrt-Hann of ``2 * (N - M / 2)`` samples, then
      the falling half of a periodic sqrt-Hann of ``M`` samples. Bins: ``N // 2 + 1``.
    * Synthesis: zero but on the newest ``M`` samples, where analysis x synthesis is a
      periodic Hann of ``M`` scaled by ``2 * H / M``; those overlap-add to one, so the
      reconstruction is exact and the streaming output lags its input by ``M - H`` samples,
      as the project STFT's does.
    """

    analysis_samples: int
    short: StftSpec

    def __post_init__(self) -> None:
        n, m, hop = self.analysis_samples, self.short.n_fft, self.short.hop_samples
        if n < m or n % hop or n % 2:
            raise ValueError(
                f"long window {n} samples: must be even, a multiple of hop_samples {hop} and "
                f"at least n_fft {m}"
            )
        if m % (2 * hop) and m != hop:
            raise ValueError(f"n_fft {m} must be a multiple of 2 * hop_samples ({2 * hop})")

    @property
    def hop_samples(self) -> int:
        """The project STFT's hop."""
        return self.short.hop_samples

    @property
    def frame_samples(self) -> int:
        """Samples each analysis frame holds: ``analysis_samples``."""
        return self.analysis_samples

    @property
    def synthesis_samples(self) -> int:
        """Newest samples of a frame that its synthesis window covers: the short ``n_fft``."""
        return self.short.n_fft

    @property
    def bins(self) -> int:
        """Frequency bins per frame: ``analysis_samples // 2 + 1``."""
        return self.analysis_samples // 2 + 1

    def frame_count(self, num_samples: int) -> int:
        """Frames of a signal of ``num_samples`` samples: as many as the project STFT's."""
        return self.short.frame_count(num_samples)

    def bin_hz(self, sample_rate_hz: float) -> float:
        """Width of one bin in Hz."""
        return sample_rate_hz / self.analysis_samples

    def analysis_window(self, dtype: np.dtype | type = np.float64) -> np.ndarray:
        """The asymmetric analysis window, shape ``(analysis_samples,)``."""
        n, m = self.analysis_samples, self.short.n_fft
        rise = analysis_window("sqrt_hann", 2 * (n - m // 2))[: n - m // 2]
        fall = analysis_window("sqrt_hann", m)[m // 2 :]
        return np.concatenate([rise, fall]).astype(dtype)

    def synthesis_tail(self, dtype: np.dtype | type = np.float64) -> np.ndarray:
        """The synthesis window over the frame's newest ``n_fft`` samples, shape ``(n_fft,)``."""
        m, hop = self.short.n_fft, self.short.hop_samples
        product = analysis_window("hann", m) * (2.0 * hop / m)
        analysis = self.analysis_window()[-m:]
        tail = np.divide(product, analysis, out=np.zeros(m), where=analysis > 0)
        return tail.astype(dtype)
