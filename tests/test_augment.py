"""Random-mix augmentation: valid mixtures, instrumental-only examples, reproducibility."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

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


def test_voice_only_examples_have_silent_accompaniment_and_off_changes_nothing() -> None:
    settings = dataclasses.replace(
        AugmentSettings(), instrumental_only_probability=0.0, vocal_only_probability=1.0
    )
    mixer = RandomMixer(tone_pool(), RATE, RATE, np.random.default_rng(2), settings)
    for _ in range(10):
        mixture, vocals, accompaniment = mixer.sample()
        assert np.all(accompaniment == 0) and rms_db(vocals) > -60
        np.testing.assert_array_equal(mixture, vocals)
    # shares: 10% instrumental-only, 30% voice-only, the rest both (one draw decides)
    shared = dataclasses.replace(AugmentSettings(), vocal_only_probability=0.3)
    mixer = RandomMixer(tone_pool(), RATE, RATE, np.random.default_rng(4), shared)
    kinds = [(np.any(v != 0), np.any(a != 0)) for _, v, a in (mixer.sample() for _ in range(400))]
    assert 0.05 < kinds.count((False, True)) / 400 < 0.15
    assert 0.24 < kinds.count((True, False)) / 400 < 0.36


def random_mixes_only(**changes: float) -> AugmentSettings:
    """Random mixes with nothing but level, panning, width, swap and polarity (and changes)."""
    return dataclasses.replace(
        AugmentSettings(),
        real_pair_probability=0.0,
        instrumental_only_probability=0.0,
        reverb_probability=0.0,
        filter_probability=0.0,
        **changes,
    )


def test_random_mixes_span_the_relative_level_range() -> None:
    settings = random_mixes_only()
    mixer = RandomMixer(tone_pool(), RATE, RATE, np.random.default_rng(3), settings)
    ratios = [rms_db(v) - rms_db(a) for _, v, a in (mixer.sample() for _ in range(200))]
    # drawn from -12 .. 6 dB; panning and stereo width then move each stem by up to ~2 dB
    assert -14.0 < min(ratios) < -9.0 and 3.0 < max(ratios) < 8.0


def test_same_seed_same_examples() -> None:
    first = RandomMixer(tone_pool(), RATE, RATE, np.random.default_rng(7)).sample()
    second = RandomMixer(tone_pool(), RATE, RATE, np.random.default_rng(7)).sample()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def peak_hz(signal: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size)))
    return float(np.argmax(spectrum) * RATE / signal.size)


def test_pitch_shift_moves_the_voice_by_the_drawn_interval() -> None:
    t = np.arange(3 * RATE) / RATE
    voice = Stem(np.stack([np.sin(2 * np.pi * 400 * t)] * 2).astype(np.float32), "v", "test")
    mixer = RandomMixer(tone_pool(), RATE, RATE, np.random.default_rng(3))
    for semitones, expected_hz in ((12.0, 800.0), (-12.0, 200.0), (3.0, 400 * 2**0.25)):
        shifted = mixer._shifted_excerpt(voice, semitones)
        assert shifted.shape == (2, RATE) and shifted.dtype == np.float32
        assert peak_hz(shifted[0]) == pytest.approx(expected_hz, abs=2.0)
        assert rms_db(shifted) == pytest.approx(rms_db(voice.audio), abs=0.5)


def test_random_mixes_shift_half_the_voices_within_the_range_and_pairs_never() -> None:
    settings = random_mixes_only(pitch_shift_semitones=4.0)
    pool = SourcePool()
    t = np.arange(3 * RATE) / RATE
    pool.add_vocals("solo_singing", Stem(np.stack([np.sin(2 * np.pi * 400 * t)] * 2), "v", "t"))
    pool.add_accompaniment("instrumental", Stem(np.zeros((2, t.size), np.float32), "a", "t"))
    mixer = RandomMixer(pool, RATE, RATE, np.random.default_rng(4), settings)
    peaks = np.array([peak_hz(mixer.sample()[1].sum(0)) for _ in range(60)])
    assert np.all((peaks > 400 * 2 ** (-4 / 12) - 2) & (peaks < 400 * 2 ** (4 / 12) + 2))
    unshifted = np.mean(np.abs(peaks - 400) < 1.5)
    assert 0.3 < unshifted < 0.75  # half are left alone (a shift rounding to 400 Hz is rare)
    # real pairs keep their pitch: the voice must stay in tune with its own accompaniment
    pairs_only = dataclasses.replace(settings, real_pair_probability=1.0)
    mixer = RandomMixer(tone_pool(), RATE, RATE, np.random.default_rng(5), pairs_only)
    for _ in range(10):
        peak = peak_hz(mixer.sample()[1].sum(0))
        assert min(abs(peak - f) for f in (300, 350, 400)) < 1.5


def test_musdb_pair_share_draws_that_share_of_real_pairs_from_the_produced_songs() -> None:
    """``musdb_pair_share``: real-pair examples come from the ``musdb`` group's pairs with that
    probability; 0 draws every pair alike, exactly as before the setting existed."""
    rng = np.random.default_rng(5)
    t = np.arange(2 * RATE) / RATE
    pool = tone_pool()
    for k in range(9):  # three mir1k pairs, nine produced songs
        voice = np.stack([np.sin(2 * np.pi * (500 + 20 * k) * t)] * 2).astype(np.float32)
        music = (rng.standard_normal((2, t.size)) * 0.3).astype(np.float32)
        pool.add_pair("musdb", Stem(voice, f"mv{k}", "test"), Stem(music, f"ma{k}", "test"))
    assert pool.pair_groups == {"mir1k": [0, 1, 2], "musdb": list(range(3, 12))}

    def drawn_pairs(share: float, seed: int = 3) -> list[int]:
        settings = dataclasses.replace(
            AugmentSettings(), real_pair_probability=1.0, musdb_pair_share=share
        )
        mixer = RandomMixer(pool, RATE, RATE, np.random.default_rng(seed), settings)
        return [mixer._pair_index() for _ in range(600)]

    for share in (0.2, 0.5):
        drawn = drawn_pairs(share)
        assert abs(sum(i >= 3 for i in drawn) / 600 - share) < 0.06
        assert set(drawn) == set(range(12))
    # 0: uniform over the 12 pairs, the same draws as the generator's integers(12)
    expected = np.random.default_rng(3)
    assert drawn_pairs(0.0) == [int(expected.integers(12)) for _ in range(600)]


def side_to_mid_db(stereo: np.ndarray) -> float:
    """Side over mid energy of ``(2, samples)`` in dB (-inf: dual mono)."""
    mid, side = stereo[0] + stereo[1], stereo[0] - stereo[1]
    return float(10 * np.log10(np.sum(side.astype(np.float64) ** 2) / np.sum(mid**2.0)))


def test_the_voice_pans_within_vocal_pan_and_accompaniments_collapse_to_mono() -> None:
    """``vocal_pan`` bounds the voice's pan (0: centred, dual mono); with
    ``mono_accompaniment_probability`` that share of accompaniments is dual mono, the rest keep
    their stereo image; the mixture is still the sum of its stems."""
    t = np.arange(2 * RATE) / RATE
    rng = np.random.default_rng(8)
    pool = SourcePool()
    pool.add_vocals("solo_singing", Stem(np.stack([np.sin(2 * np.pi * 400 * t)] * 2), "v", "t"))
    music = (rng.standard_normal((2, t.size)) * 0.3).astype(np.float32)  # uncorrelated channels
    pool.add_accompaniment("instrumental", Stem(music, "a", "t"))
    centred = random_mixes_only(vocal_pan=0.0, mono_accompaniment_probability=0.4)
    mixer = RandomMixer(pool, RATE, RATE, np.random.default_rng(9), centred)
    mono = 0
    for _ in range(100):
        mixture, vocals, accompaniment = mixer.sample()
        np.testing.assert_array_equal(vocals[0], vocals[1])
        np.testing.assert_allclose(mixture, vocals + accompaniment, atol=1e-6)
        if np.array_equal(accompaniment[0], accompaniment[1]):
            mono += 1
        else:  # uncorrelated noise widened by 0.6 .. 1.4
            assert -5.0 < side_to_mid_db(accompaniment) < 3.5
    assert 25 <= mono <= 55
    # the default: panned within +-0.3 (side at most -12.4 dB under the mid), no dual mono
    mixer = RandomMixer(pool, RATE, RATE, np.random.default_rng(9), random_mixes_only())
    voices = [mixer.sample()[1] for _ in range(100)]
    sides = np.array([side_to_mid_db(v) for v in voices])
    assert sides.max() < -12.3 and sides.min() > -80


def test_the_teacher_group_weighs_0_3_among_random_mix_voices_and_accompaniments() -> None:
    """Teacher-labelled (or synthetic) songs are random-mix material at the weight table's
    0.3, against MIR-1K's 0.45 voices and 0.35 accompaniments."""
    t = np.arange(2 * RATE) / RATE
    pool = SourcePool()
    for group, hz in (("mir1k", 300.0), ("teacher", 700.0)):
        voice = np.stack([np.sin(2 * np.pi * hz * t)] * 2).astype(np.float32)
        music = np.stack([np.sin(2 * np.pi * hz / 2 * t)] * 2).astype(np.float32) * 0.5
        pool.add_pair(group, Stem(voice, f"{group}-v", "test"), Stem(music, f"{group}-a", "test"))
    mixer = RandomMixer(pool, RATE, RATE, np.random.default_rng(2), AugmentSettings())
    voices = [mixer._pick(pool.vocals, pool.vocal_groups, mixer._vocal_groups) for _ in range(400)]
    music = [
        mixer._pick(pool.accompaniments, pool.accompaniment_groups, mixer._accompaniment_groups)
        for _ in range(400)
    ]
    voice_share = sum(s.origin == "teacher-v" for s in voices) / 400
    music_share = sum(s.origin == "teacher-a" for s in music) / 400
    assert abs(voice_share - 0.3 / 0.75) < 0.06 and abs(music_share - 0.3 / 0.65) < 0.06
