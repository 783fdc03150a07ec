"""Offline separation of a whole signal: one-shot STFT, the model over every frame, one-shot
inverse STFT. Nothing is streamed, so nothing needs latency compensation.

This is ``unsing separate --mode offline`` and the independent reference the streaming engine
is tested against: it shares the model and the STFT definition with the engine but none of the
engine's buffering (no streaming STFT, no frame ring, no FIFO, no block handling). A model with
look-ahead gets its future frames from the song itself (zeros past the end).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from unsing.config import Config
from unsing.long_band import hybrid_vocals, model_input
from unsing.realtime.engine import MaskModel
from unsing.stft import istft, stft


def masks_for(
    model: MaskModel,
    magnitudes: np.ndarray,
    lookahead_frames: int,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Masks ``(channels, output_bins, frames)`` for magnitudes ``(channels, input_bins,
    frames)`` (both the STFT's bins unless the model has a long band).

    The model emits the mask of frame ``t - lookahead`` when frame ``t`` is pushed; the last
    ``lookahead`` masks come from pushing silent frames after the end.
    """
    channels, bins, frames = magnitudes.shape
    layout = model.long_band
    output_bins = bins if layout is None else model.bins + layout.output_bins
    model.reset()
    by_frame = np.ascontiguousarray(np.moveaxis(magnitudes, -1, 0), dtype=np.float32)
    masks = np.zeros((frames, channels, output_bins), np.float32)
    silence = np.zeros((channels, bins), np.float32)
    for pushed in range(frames + lookahead_frames):
        mask = model(by_frame[pushed] if pushed < frames else silence)
        target = pushed - lookahead_frames
        if target >= 0:
            masks[target] = mask
        if progress is not None and pushed % 256 == 0:
            progress(min(pushed, frames), frames)
    model.reset()
    return np.moveaxis(masks, 0, -1)


def separate_offline(
    config: Config,
    model: MaskModel,
    audio: np.ndarray,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Vocals and accompaniment of ``audio`` ``(samples, channels)``, each float32 of the same
    shape, aligned with the input."""
    spec = config.contract.stft
    signal = np.asarray(audio, np.float64).T  # (channels, samples)
    spectrum = stft(signal, spec)
    layout = model.long_band
    if layout is not None:  # the low band from the long-window STFT (unsing.long_band)
        long_spectrum = stft(signal, layout.spec)
        magnitude = model_input(spectrum, long_spectrum, layout)
        masks = masks_for(model, magnitude, config.contract.lookahead_frames, progress)
        vocals = hybrid_vocals(signal, spectrum, long_spectrum, masks, layout)
        return vocals.T.astype(np.float32), (signal - vocals).T.astype(np.float32)
    masks = masks_for(model, np.abs(spectrum), config.contract.lookahead_frames, progress)
    spectrum *= masks  # now the vocals' spectrum
    vocals = istft(spectrum, spec, signal.shape[1])
    # the masks are complementary and the STFT reconstructs exactly (1e-10): the accompaniment's
    # resynthesis is the mixture minus the vocals'
    accompaniment = signal - vocals
    return vocals.T.astype(np.float32), accompaniment.T.astype(np.float32)
