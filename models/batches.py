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


class WorkerBatches(torch.utils.data.IterableDataset):
    """The batches of one epoch, split over the loader's workers (see the module docstring)."""

    def __init__(
        self,
        pool: SourcePool,
        sample_rate_hz: int,
        excerpt_samples: int,
        batch_size: int,
        batches: int,
        workers: int,
        seed: int,
        rank: int,
        epoch: int,
        augment: AugmentSettings | None = None,
    ) -> None:
        super().__init__()
        self.augment = augment
        self.pool, self.sample_rate_hz, self.excerpt_samples = pool, sample_rate_hz, excerpt_samples
        self.batch_size, self.batches, self.workers = batch_size, batches, workers
        self.seed, self.rank, self.epoch = seed, rank, epoch

    def __iter__(self) -> Iterator[Batch]:
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        workers = info.num_workers if info is not None else 1
        if workers != self.workers:
            raise RuntimeError(f"expected {self.workers} data-loader workers, got {workers}")
        torch.set_num_threads(1)
        mixer = RandomMixer(
            self.pool,
            self.sample_rate_hz,
            self.excerpt_samples,
            worker_rng(self.seed, self.rank, self.epoch, worker),
            self.augment,
        )
        for _ in range(worker, self.batches, workers):
            yield stack_examples([mixer.sample() for _ in range(self.batch_size)])


def epoch_batches(
    pool: SourcePool,
    sample_rate_hz: int,
    excerpt_samples: int,
    batch_size: int,
    batches: int,
    workers: int,
    seed: int,
    rank: int,
    epoch: int,
    pin_memory: bool = False,
    augment: AugmentSettings | None = None,
) -> Iterator[Batch]:
    """The ``batches`` batches of one epoch, on CPU, in a reproducible order.

    ``workers`` = 0 draws them here; more forks that many loader processes (fork shares the
    decoded pool with them instead of copying it).
    """
    if workers == 0:
        mixer = RandomMixer(
            pool, sample_rate_hz, excerpt_samples, epoch_rng(seed, rank, epoch), augment
        )
        for _ in range(batches):
            yield stack_examples([mixer.sample() for _ in range(batch_size)])
        return
    dataset = WorkerBatches(
        pool,
        sample_rate_hz,
        excerpt_samples,
        batch_size,
        batches,
        workers,
        seed,
        rank,
        epoch,
        augment,
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        num_workers=workers,
        prefetch_factor=4,
        pin_memory=pin_memory,
        multiprocessing_context="fork",
    )
    yield from loader
