"""Masks a broken model file could produce, made harmless and reported.

A mask must be finite and lie in [0, 1]. The live engine clamps every mask and, for one that
is not finite, resets the model and keeps the previous mask (``engine.py``); the offline path
does the same frame by frame here (:func:`sanitize_masks`). :class:`MaskCheck` counts the
frames of a file run and the replaced ones: a model whose every mask is NaN or infinite is an
error before anything is written, a few replaced frames a warning with the count.
"""

from __future__ import annotations

import numpy as np

from unsing.errors import ModelFileError

#: A model whose masks were not finite on each of its first this many frames is broken.
BROKEN_AFTER_FRAMES = 200


def sanitize_masks(masks: np.ndarray, previous: np.ndarray | None) -> tuple[np.ndarray, int]:
    """``masks`` ``(channels, bins, frames)``, clamped to [0, 1] in place, each frame that is
    not finite replaced by the frame before it (the first by ``previous`` ``(channels, bins)``
    or zeros). Returns ``(masks, replaced frame count)``."""
    if masks.shape[-1] == 0:
        return masks, 0
    finite = np.isfinite(masks).all(axis=(0, 1))
    replaced = int(finite.size - np.count_nonzero(finite))
    if replaced:
        for frame in np.flatnonzero(~finite):
            if frame > 0:
                masks[..., frame] = masks[..., frame - 1]
            else:
                masks[..., 0] = 0.0 if previous is None else previous
    np.clip(masks, 0.0, 1.0, out=masks)
    return masks, replaced


class MaskCheck:
    """Frames of a run and how many had a mask that was not finite (``source``: the model
    file, for the messages)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.frames = 0
        self.replaced = 0

    def add(self, frames: int, replaced: int) -> None:
        """Count ``frames`` more, ``replaced`` of them not finite; a model broken on every
        frame so far (at least :data:`BROKEN_AFTER_FRAMES`) raises ModelFileError."""
        self.frames += frames
        self.replaced += replaced
        if self.frames >= BROKEN_AFTER_FRAMES:
            self._raise_if_broken()

    def finish(self) -> None:
        """At the end of a run: a model broken on every frame raises ModelFileError."""
        self._raise_if_broken()

    def _raise_if_broken(self) -> None:
        if self.frames and self.replaced == self.frames:
            raise ModelFileError(
                f"{self.source}: the model's masks are NaN or infinite on every frame "
                f"({self.frames} frames): the model file is broken; nothing was written"
            )

    def warning(self) -> str | None:
        """A line for the user when some masks were replaced, else None."""
        if not self.replaced:
            return None
        return (
            f"the model's mask was NaN or infinite on {self.replaced} of {self.frames} frames "
            f"(the previous mask was used there): check {self.source}"
        )
