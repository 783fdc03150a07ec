"""The project's STFT and its long-window companion (see ``unsing.stft``) in torch, for
training losses through the inverse and for separating whole recordings.

Same framing, window and scaling as ``unsing.stft.stft``/``istft``; tests compare them.
"""

from __future__ import annotations

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
    num_samples = signal.shape[-1]
    frames = spec.frame_count(num_samples)
    lead = spec.frame_samples - spec.hop_samples
    tail = frames * spec.hop_samples - num_samples
    lead_shape = signal.shape[:-1]
    flat = F.pad(signal.reshape(-1, num_samples), (lead, tail))
    window = torch.from_numpy(spec.analysis_window()).to(signal.device, signal.dtype)
    spectrum = torch.stft(
        flat,
        spec.frame_samples,
        spec.hop_samples,
        window=window,
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    return spectrum.reshape(*lead_shape, spec.bins, frames)


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
