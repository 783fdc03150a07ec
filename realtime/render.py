"""Rendering: a whole signal through the live engine, block by block, as fast as the CPU allows.

The same :class:`SeparationEngine` code path as a live stream, fed from memory instead of a
sound card. The engine's delay is flushed with silence and cut from the front, so the result is
sample-aligned with the input.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from unsing.realtime.engine import SeparationEngine

#: ``progress(done_samples, total_samples)``, called once per block.
Progress = Callable[[int, int], None]


def render(
    engine: SeparationEngine,
    audio: np.ndarray,
    blocksize_samples: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Run ``audio`` ``(samples, channels)`` through ``engine``; return the aligned output.

    Returns:
        float32 ``(samples, engine.output_channels)``: output sample ``n`` belongs to input
        sample ``n`` (the engine's :attr:`~SeparationEngine.delay_samples` is compensated).
    """
    block = blocksize_samples or engine.blocksize_samples
    samples = audio.shape[0]
    delay = engine.delay_samples
    hop = engine.hop_samples
    total = -(-(samples + delay) // hop) * hop  # whole hops: the last partial one is flushed too
    padded = np.zeros((total, engine.channels), np.float32)
    padded[:samples] = audio
    output = np.zeros((total, engine.output_channels), np.float32)
    for start in range(0, total, block):
        stop = min(start + block, total)
        engine.process(padded[start:stop], output[start:stop])
        if progress is not None:
            progress(min(stop, samples), samples)
    return output[delay : delay + samples]


def render_stems(engine: SeparationEngine, mixture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vocals and accompaniment of ``mixture`` ``(channels, samples)`` by a stems ``engine``
    (stereo): float32 ``(channels, samples)`` each; a mono mixture is fed as stereo and its
    stems averaged back to mono."""
    stereo = np.repeat(mixture, 2, axis=0) if mixture.shape[0] == 1 else mixture
    stems = render(engine, stereo.T)
    vocals, accompaniment = stems[:, :2].T, stems[:, 2:].T
    if mixture.shape[0] == 1:
        vocals = vocals.mean(0, keepdims=True)
        accompaniment = accompaniment.mean(0, keepdims=True)
    return vocals.astype(np.float32), accompaniment.astype(np.float32)


def rich_progress(description: str, sample_rate_hz: int) -> tuple[Progress, Callable[[], None]]:
    """A rich progress bar on stderr with the speed as a real-time factor: ``(update, close)``."""
    import time

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import (
        Progress as RichProgress,
    )

    bar = RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[speed]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(description, total=None, speed="")
    bar.start()
    started = time.perf_counter()

    def update(done: int, total: int) -> None:
        elapsed = max(time.perf_counter() - started, 1e-9)
        speed = f"{done / sample_rate_hz / elapsed:.1f}x real time"
        bar.update(task, completed=done, total=total, speed=speed)

    return update, bar.stop
