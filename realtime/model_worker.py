"""A mask model run in a worker thread, frame after frame: the pipelined render, and the live
engine's model thread (``engine.model_thread``).

onnxruntime releases the interpreter lock while it computes, so the thread that submits frames
analyses and synthesises other hops meanwhile. Frames are run in the order submitted; each mask
is copied into its own slot (the model reuses its buffer), and a mask that is not finite resets
the model before the next frame, as the engine does in one thread. A frame submitted with
``run=False`` only enters the model's history (``model.skip``): the live engine's way to let a
late model catch up without reordering frames.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from typing import Any

import numpy as np


def share_realtime_priority(thread_id: int) -> bool:
    """Give thread ``thread_id`` (a native id) the calling thread's real-time policy, one
    priority below it: called from the audio thread, this keeps the model thread ahead of
    ordinary processes without ever preempting the audio. False where the calling thread is
    not real-time or the system refuses (Linux only)."""
    if not hasattr(os, "sched_getscheduler"):
        return False
    try:
        policy = os.sched_getscheduler(0)
        if policy not in (os.SCHED_FIFO, os.SCHED_RR):
            return False
        priority = max(1, os.sched_getparam(0).sched_priority - 1)
        os.sched_setscheduler(thread_id, policy, os.sched_param(priority))
    except OSError:
        return False
    return True


def current_cpu() -> int | None:
    """The core the calling thread runs on now (Linux: field 39 of /proc/thread-self/stat);
    None where that cannot be read."""
    try:
        with open("/proc/thread-self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[36])
    except (OSError, IndexError, ValueError):
        return None


def share_core(thread_id: int) -> int | None:
    """Keep the calling thread and thread ``thread_id`` (a native id) on the core the caller
    runs on now; returns it (None where not possible: not Linux, or refused).

    For the audio thread and the model thread at real-time priority: on one core the audio
    thread preempts the model at once and the model runs in the callbacks' gaps. Left to the
    scheduler, a woken real-time model thread is pushed to another core, where it meets the
    audio thread at the interpreter lock: more xruns (measured in docs/performance.md)."""
    cpu = current_cpu()
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    try:
        os.sched_setaffinity(thread_id, {cpu})
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return None
    return cpu


class ModelWorker:
    """``submit(magnitude)`` then ``result()`` -> ``(mask, seconds)`` per frame, in order: at
    most ``slots`` frames in flight; a mask ``mask_shape`` ``(channels, output_bins)`` stays
    valid until ``slots`` more were submitted."""

    def __init__(self, model: Any, slots: int, mask_shape: tuple[int, int]) -> None:
        self.model = model
        self._masks = np.zeros((slots, *mask_shape), np.float32)
        self._next_slot = 0
        self._jobs: queue.SimpleQueue[tuple[np.ndarray, bool] | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[Any, float, BaseException | None]] = (
            queue.SimpleQueue()
        )
        #: frames submitted and not yet collected (kept by the submitting thread)
        self.in_flight = 0
        self._thread = threading.Thread(target=self._serve, name="unsing-model", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            magnitude, run = job
            started = time.perf_counter()
            try:
                if not run:
                    self.model.skip(magnitude)
                    self._results.put((None, 0.0, None))
                    continue
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

    def submit(self, magnitude: np.ndarray, run: bool = True) -> None:
        """Queue ``magnitude`` ``(channels, input_bins)`` (left untouched until its
        :meth:`result` returns); ``run=False``: history only, its result's mask is None."""
        self._jobs.put((magnitude, run))
        self.in_flight += 1

    def result(self) -> tuple[np.ndarray, float]:
        """Wait for the oldest submitted frame's mask (a model that was not finite has been
        reset); the model's exception is raised here."""
        return self._collected(self._results.get())

    def poll(self) -> tuple[np.ndarray | None, float] | None:
        """The oldest submitted frame's result if it is ready, else None: never waits."""
        try:
            finished = self._results.get_nowait()
        except queue.Empty:
            return None
        return self._collected(finished)

    @property
    def native_id(self) -> int | None:
        """The thread's id for the operating system's scheduler."""
        return self._thread.native_id

    def finished(self) -> bool:
        """Whether every frame in flight has its result waiting (tests: a model never late)."""
        return self._results.qsize() == self.in_flight

    def drain(self) -> None:
        """Wait for every frame in flight and drop the results (errors too)."""
        while self.in_flight:
            self.in_flight -= 1
            self._results.get()

    def _collected(
        self, finished: tuple[Any, float, BaseException | None]
    ) -> tuple[np.ndarray, float]:
        self.in_flight -= 1
        mask, seconds, error = finished
        if error is not None:
            raise error
        return mask, seconds

    def close(self) -> None:
        """Stop the thread (after the frame in flight, if any)."""
        self._jobs.put(None)
        self._thread.join()
