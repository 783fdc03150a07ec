"""Random-mix augmentation: valid mixtures, instrumental-only examples, reproducibility."""

from __future__ import annotations

import dataclasses

import numpy as np

from unsing.models.augment import AugmentSettings, RandomMixer, rms_db
from unsing.models.data import SourcePool, Stem

RATE = 8000


def tone_pool() -> SourcePool:
    rng = np.random.default_rng(0)
    t = np.arange(3 * RATE) / RATE
    pool = SourcePool()
    for k in range(3):
        voice = np.stack([np.sin(2 * np.pi * (300 + 50 * k) * t)] * 2).astype(np.float32)
        music = (rng.standard_normal((2, t.size)) * 0.3).astype(np.float32)
        pool.add_pair("mir1k", Stem(voice, f"v{k}", "test"), Stem(music, f"a{k}", "test"))
    pool.add_accompaniment("instrumental", Stem(music, "inst", "test"))
    return pool


def test_every_example_is_a_valid_mixture_of_its_stems() -> None:
    mixer = RandomMixer(tone_pool(), RATE, RATE, np.random.default_rng(1))
    for _ in range(50):
        mixture, vocals, accompaniment = mixer.sample()
        assert mixture.shape == vocals.shape == accompaniment.shape == (2, RATE)
        assert mixture.dtype == np.float32
        np.testing.assert_allclose(mixture, vocals + accompaniment, atol=1e-6)
        assert np.abs(mixture).max() <= 10 ** (-1 / 20) + 1e-6


def test_instrumental_only_examples_have_silent_vocals() -> None:
    settings = dataclasses.replace(AugmentSettings(), instrumental_only_probability=1.0)
    mixer = RandomMixer(tone_pool(), RATE, RATE, np.random.default_rng(2), settings)
    for _ in range(10):
        _, vocals, accompaniment = mixer.sample()
        assert np.all(vocals == 0) and rms_db(accompaniment) > -60


def test_random_mixes_span_the_relative_level_range() -> None:
    settings = dataclasses.replace(
        AugmentSettings(),
        real_pair_probability=0.0,
        instrumental_only_probability=0.0,
        reverb_probability=0.0,
        filter_probability=0.0,
    )
    mixer = RandomMixer(tone_pool(), RATE, RATE, np.random.default_rng(3), settings)
    ratios = [rms_db(v) - rms_db(a) for _, v, a in (mixer.sample() for _ in range(200))]
    # drawn from -12 .. 6 dB; panning and stereo width then move each stem by up to ~2 dB
    assert -14.0 < min(ratios) < -9.0 and 3.0 < max(ratios) < 8.0


def test_same_seed_same_examples() -> None:
    first = RandomMixer(tone_pool(), RATE, RATE, np.random.default_rng(7)).sample()
    second = RandomMixer(tone_pool(), RATE, RATE, np.random.default_rng(7)).sample()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
