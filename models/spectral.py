"""The project's STFT and its long-window companion (see ``unsing.stft``) in torch, for
training losses through the inverse and for separating whole recordings.

Same framing, window and scaling as ``unsing.stft.stft``/``istft``; tests compare them.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from unsing.stft import LongWindowSpec, StftSpec


def stft(signal: torch.Tensor, spec: StftSpec | LongWindowSpec) -> torch.Tensor:
    """Complex spectrogram of ``signal``.

    Args:
        signal: real ``(..., samples)``.
        spec: the STFT parameters.

    Returns:
        complex ``(..., bins, frames)`` equal to ``unsing.stft.stft``.
    """
    frames = spec.frame_count(signal.shape[-1])
    return next(stft_segments(signal, spec, max(1, frames)))[1]


def stft_segments(
    signal: torch.Tensor, spec: StftSpec | LongWindowSpec, segment_frames: int
) -> Iterator[tuple[int, torch.Tensor]]:
    """:func:`stft` of ``signal`` ``segment_frames`` frames at a time, for recordings whose
    whole spectrogram would not fit in memory (a five-minute track's long-window spectrogram
    is 3 GB).

    Yields ``(first_frame, spectrum)``, ``spectrum`` complex ``(..., bins, frames)``: frames
    ``first_frame ..`` of :func:`stft`, computed from the samples those frames cover."""
    num_samples = signal.shape[-1]
    frames = spec.frame_count(num_samples)
    lead = spec.frame_samples - spec.hop_samples
    tail = frames * spec.hop_samples - num_samples
    lead_shape = signal.shape[:-1]
    padded = F.pad(signal.reshape(-1, num_samples), (lead, tail))
    window = torch.from_numpy(spec.analysis_window()).to(signal.device, signal.dtype)
    hop = spec.hop_samples
    for first in range(0, frames, segment_frames):
        stop = min(frames, first + segment_frames)
        part = padded[:, first * hop : (stop - 1) * hop + spec.frame_samples]
        spectrum = torch.stft(
            part,
            spec.frame_samples,
            hop,
            window=window,
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        yield first, spectrum.reshape(*lead_shape, spec.bins, stop - first)


def istft(
    spectrum: torch.Tensor, spec: StftSpec | LongWindowSpec, num_samples: int
) -> torch.Tensor:
    """Inverse of :func:`stft` by weighted overlap-add of each frame's newest
    ``spec.synthesis_samples`` samples (all of it for the project STFT) with the synthesis window.

    Args:
        spectrum: complex ``(..., bins, frames)``.
        spec: the STFT parameters.
        num_samples: length of the returned signal.

    Returns:
        real ``(..., num_samples)``, equal to ``unsing.stft.istft``.
    """
    lead_shape = spectrum.shape[:-2]
    frames = spectrum.shape[-1]
    flat = spectrum.reshape(-1, spec.bins, frames)
    real_dtype = torch.float32 if flat.dtype == torch.complex64 else torch.float64
    window = torch.from_numpy(spec.synthesis_tail()).to(flat.device, real_dtype)
    span = spec.synthesis_samples
    pieces = torch.fft.irfft(flat, n=spec.frame_samples, dim=-2)[:, -span:] * window[:, None]
    length = (frames - 1) * spec.hop_samples + span  # pieces: (B, span, T)
    output = F.fold(
        pieces, output_size=(1, length), kernel_size=(1, span), stride=(1, spec.hop_samples)
    )  # (B, 1, 1, length)
    lead = span - spec.hop_samples
    output = output.reshape(-1, length)[:, lead : lead + num_samples]
    if output.shape[-1] < num_samples:
        output = F.pad(output, (0, num_samples - output.shape[-1]))
    return output.reshape(*lead_shape, num_samples)
