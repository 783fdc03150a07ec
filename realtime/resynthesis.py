"""Resynthesis of masked STFT frames: overlap-add with the mixture's phase, or online Griffin-Lim.

Both take one complex frame ``(channels, bins)`` per hop and return one finished hop of samples
``(channels, hop)``; neither allocates per call (numpy >= 2 FFTs with ``out=``).

* :class:`OverlapAddResynthesis` is the streaming inverse STFT: the output lags the analysed
  input by ``n_fft - hop`` samples, and with an unmodified spectrum it returns the input exactly.
* :class:`OnlineGriffinLim` is RTISI-LA (Zhu, Beauregard and Wyse, "Real-time signal estimation
  from modified short-time Fourier transform magnitude spectra", IEEE TASLP 2007): it keeps the
  newest ``lookahead_frames + 1`` frames open, refines their phases for ``iterations`` passes of
  Griffin-Lim against the partial reconstruction, then commits the oldest. It starts from the
  mixture's phase (the masked frame as given), which is already a good estimate, and adds
  ``lookahead_frames * hop`` samples of latency.
"""

from __future__ import annotations

import numpy as np

from unsing.stft import StftSpec, StreamingIstft

#: Magnitudes below this are treated as zero when taking a phase (avoids 0/0).
_PHASE_FLOOR = 1e-12
#: Window-overlap share below which the partial reconstruction is not scaled up further.
_MIN_COVERAGE = 1e-3


class OverlapAddResynthesis:
    """Weighted overlap-add with the frame's own (mixture) phase."""

    def __init__(self, spec: StftSpec, channels: int) -> None:
        self._istft = StreamingIstft(spec, channels)

    def reset(self) -> None:
        """Drop all pending overlap-add state."""
        self._istft.reset()

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Add one complex frame ``(channels, bins)``; return the finished hop (reused buffer)."""
        return self._istft.process(frame)

    def process_late(self, provisional: np.ndarray, final_previous: np.ndarray) -> np.ndarray:
        """The newest frame as masked so far, and the previous frame as finally masked
        (:meth:`unsing.stft.StreamingIstft.process_late`); returns the finished hop."""
        return self._istft.process_late(provisional, final_previous)


class OnlineGriffinLim:
    """RTISI-LA online phase reconstruction of the frames' magnitudes.

    Frame ``t`` arrives; frames ``t - K .. t`` (``K = lookahead_frames``) are open. Each of
    ``iterations`` passes visits them oldest first: analyse the current reconstruction over the
    frame's span, keep its phase, impose the target magnitude, resynthesise and update the
    reconstruction. Then frame ``t - K`` is committed and the hop that no open frame touches is
    returned: the output lags the input by ``n_fft - hop + K * hop`` samples.
    """

    def __init__(
        self, spec: StftSpec, channels: int, iterations: int, lookahead_frames: int
    ) -> None:
        self.spec = spec
        self.iterations = iterations
        self._open = lookahead_frames + 1
        n_fft, hop = spec.n_fft, spec.hop_samples
        span = n_fft + lookahead_frames * hop
        self._analysis = np.tile(spec.analysis_window(), (channels, 1))
        self._synthesis = np.tile(spec.synthesis_window(), (channels, 1))
        # reconstruction over the open frames' spans, double-buffered for the per-hop shift
        # The newest n_fft - hop samples lack the contributions of frames still to come: scale
        # them up by the missing share of the window overlap before analysing (RTISI-LA's
        # partial-reconstruction weighting), so the open frames see a level-correct estimate.
        coverage = np.zeros(span)
        product = spec.analysis_window() * spec.synthesis_window()
        for start in range(-n_fft + hop, span - n_fft + 1, hop):
            lo, hi = max(start, 0), min(start + n_fft, span)
            coverage[lo:hi] += product[lo - start : hi - start]
        self._normalise = np.tile(1.0 / np.maximum(coverage, _MIN_COVERAGE), (channels, 1))
        self._signal = np.zeros((channels, span))
        self._signal_next = np.zeros((channels, span))
        self._pieces = np.zeros((self._open, channels, n_fft))  # open frames' contributions
        self._magnitudes = np.zeros((self._open, channels, spec.bins))
        self._first = 0  # ring slot of the oldest open frame
        self._segment = np.zeros((channels, n_fft))
        self._piece = np.zeros((channels, n_fft))
        self._spectrum = np.zeros((channels, spec.bins), np.complex128)
        self._scale = np.zeros((channels, spec.bins))
        # complex-by-real products run on float pairs: a mixed-type ufunc allocates a buffer
        self._spectrum_pairs = self._spectrum.view(np.float64).reshape(channels, spec.bins, 2)
        self._scale_pairs = np.zeros((channels, spec.bins, 2))
        self._hop = np.zeros((channels, hop))

    def reset(self) -> None:
        """Drop every open frame and the reconstruction."""
        for array in (self._signal, self._signal_next, self._pieces, self._magnitudes):
            array.fill(0.0)
        self._first = 0

    def _synthesise(self, slot: int, offset: int) -> None:
        """Turn ``self._spectrum`` into frame ``slot``'s contribution at ``offset`` samples."""
        n_fft = self.spec.n_fft
        np.fft.irfft(self._spectrum, n=n_fft, axis=-1, out=self._piece)
        self._piece *= self._synthesis
        region = self._signal[:, offset : offset + n_fft]
        region -= self._pieces[slot]
        region += self._piece
        self._pieces[slot] = self._piece

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Add one complex frame ``(channels, bins)`` (its magnitude is the target, its phase
        the first estimate); return the committed hop ``(channels, hop)`` (reused buffer)."""
        n_fft, hop, open_frames = self.spec.n_fft, self.spec.hop_samples, self._open
        newest = (self._first + open_frames - 1) % open_frames
        newest_offset = (open_frames - 1) * hop
        np.abs(frame, out=self._magnitudes[newest])
        self._spectrum[:] = frame
        self._pieces[newest].fill(0.0)
        self._synthesise(newest, newest_offset)
        for _ in range(self.iterations):
            for age in range(open_frames):
                slot = (self._first + age) % open_frames
                offset = age * hop
                np.multiply(
                    self._signal[:, offset : offset + n_fft],
                    self._normalise[:, offset : offset + n_fft],
                    out=self._segment,
                )
                self._segment *= self._analysis
                np.fft.rfft(self._segment, axis=-1, out=self._spectrum)
                np.abs(self._spectrum, out=self._scale)
                np.maximum(self._scale, _PHASE_FLOOR, out=self._scale)
                np.divide(self._magnitudes[slot], self._scale, out=self._scale)
                self._scale_pairs[..., 0] = self._scale
                self._scale_pairs[..., 1] = self._scale
                self._spectrum_pairs *= self._scale_pairs
                self._synthesise(slot, offset)
        # commit the oldest open frame: its first hop is final
        self._hop[:] = self._signal[:, :hop]
        self._signal_next[:, :-hop] = self._signal[:, hop:]
        self._signal_next[:, -hop:] = 0.0
        self._signal, self._signal_next = self._signal_next, self._signal
        oldest = self._first
        self._pieces[oldest].fill(0.0)
        self._magnitudes[oldest].fill(0.0)
        self._first = (oldest + 1) % open_frames
        return self._hop
