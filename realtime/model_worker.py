"""A mask model run in a worker thread, frame after frame, for the pipelined render.

onnxruntime releases the interpreter lock while it computes, so the thread that submits frames
analyses and synthesises other hops meanwhile. Frames are run in the order submitted; each mask
is copied into its own slot (the model reuses its buffer), and a mask that is not finite resets
the model before the next frame, as the engine does in one thread.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from typing import Any

import numpy as np


class ModelWorker:
    """``submit(magnitude)`` then ``result()`` -> ``(mask, seconds)`` per frame, in order: at
    most ``slots`` frames in flight; a mask ``mask_shape`` ``(channels, output_bins)`` stays
    valid until ``slots`` more were submitted."""

    def __init__(self, model: Any, slots: int, mask_shape: tuple[int, int]) -> None:
        self.model = model
        self._masks = np.zeros((slots, *mask_shape), np.float32)
        self._next_slot = 0
        self._jobs: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[Any, float, BaseException | None]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._serve, name="unsing-model", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (magnitude := self._jobs.get()) is not None:
            started = time.perf_counter()
            try:
                mask = self._masks[self._next_slot]
                self._next_slot = (self._next_slot + 1) % len(self._masks)
                mask[:] = self.model(magnitude)
                seconds = time.perf_counter() - started
                if not math.isfinite(float(mask.sum())):
                    self.model.reset()
            except BaseException as error:  # handed to the submitting thread, raised there
                self._results.put((None, 0.0, error))
            else:
                self._results.put((mask, seconds, None))

    def submit(self, magnitude: np.ndarray) -> None:
        """Queue ``magnitude`` ``(channels, input_bins)`` (left untouched until its
        :meth:`result` returns)."""
        self._jobs.put(magnitude)

    def result(self) -> tuple[np.ndarray, float]:
        """Wait for the oldest submitted frame's mask (a model that was not finite has been
        reset); the model's exception is raised here."""
        mask, seconds, error = self._results.get()
        if error is not None:
            raise error
        return mask, seconds

    def close(self) -> None:
        """Stop the thread (after the frame in flight, if any)."""
        self._jobs.put(None)
        self._thread.join()
