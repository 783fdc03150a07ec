"""Training batches of random mixes, drawn in the training process or by data-loader workers.

With ``train.data_workers: 0`` the training process draws every example itself (one
:class:`RandomMixer` per epoch, seeded by ``(seed, rank, epoch)``): the CPU default. A GPU step
takes milliseconds while one random mix (excerpts, resampling, filters, reverb) takes several, so
with ``train.data_workers: N`` N forked processes draw the batches: worker ``w`` draws batches
``w, w + N, w + 2N, ...`` of the epoch from its own generator seeded by ``(seed, rank, epoch,
w)``, and the loader hands them out in that order. A run is therefore reproducible for a given
N (and a resumed run draws what an uninterrupted one would), but N = 0 and N = 4 draw different
examples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from unsing.models.augment import AugmentSettings, RandomMixer
from unsing.models.data import SourcePool

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def epoch_rng(seed: int, rank: int, epoch: int) -> np.random.Generator:
    """The random mixes of one epoch of one process (in-process drawing)."""
    return np.random.default_rng(seed * 1000 + rank + 7919 * epoch)


def worker_rng(seed: int, rank: int, epoch: int, worker: int) -> np.random.Generator:
    """The random mixes of one data-loader worker in one epoch of one process."""
    return np.random.default_rng([seed, rank, epoch, worker])


def stack_examples(examples: list[tuple[np.ndarray, ...]]) -> Batch:
    """``(mixture, vocals, accompaniment)`` tensors, each ``(batch, 2, samples)`` float32."""
    return tuple(torch.from_numpy(np.stack([e[i] for e in examples])) for i in range(3))  # type: ignore[return-value]


@dataclass(frozen=True)
class EpochDraw:
    """What one epoch of one process draws: ``batches`` batches of ``batch_size`` random mixes
    of ``excerpt_samples`` from ``pool``, by ``workers`` loader processes (0: in-process)."""

    pool: SourcePool
    sample_rate_hz: int
    excerpt_samples: int
    batch_size: int
    batches: int
    workers: int
    seed: int
    rank: int
    epoch: int
    augment: AugmentSettings | None = None

    def mixer(self, rng: np.random.Generator) -> RandomMixer:
        """A mixer of this epoch's pool and augmentation drawing from ``rng``."""
        return RandomMixer(self.pool, self.sample_rate_hz, self.excerpt_samples, rng, self.augment)


class WorkerBatches(torch.utils.data.IterableDataset):
    """The batches of one epoch, split over the loader's workers (see the module docstring)."""

    def __init__(self, draw: EpochDraw) -> None:
        super().__init__()
        self.draw = draw

    def __iter__(self) -> Iterator[Batch]:
        draw = self.draw
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        workers = info.num_workers if info is not None else 1
        if workers != draw.workers:
            raise RuntimeError(f"expected {draw.workers} data-loader workers, got {workers}")
        torch.set_num_threads(1)
        mixer = draw.mixer(worker_rng(draw.seed, draw.rank, draw.epoch, worker))
        for _ in range(worker, draw.batches, workers):
            yield stack_examples([mixer.sample() for _ in range(draw.batch_size)])


def epoch_batches(draw: EpochDraw, pin_memory: bool = False) -> Iterator[Batch]:
    """The ``draw.batches`` batches of one epoch, on CPU, in a reproducible order.

    ``draw.workers`` = 0 draws them here; more forks that many loader processes (fork shares
    the decoded pool with them instead of copying it).
    """
    if draw.workers == 0:
        mixer = draw.mixer(epoch_rng(draw.seed, draw.rank, draw.epoch))
        for _ in range(draw.batches):
            yield stack_examples([mixer.sample() for _ in range(draw.batch_size)])
        return
    loader = torch.utils.data.DataLoader(
        WorkerBatches(draw),
        batch_size=None,
        num_workers=draw.workers,
        prefetch_factor=4,
        pin_memory=pin_memory,
        multiprocessing_context="fork",
    )
    yield from loader
