"""Quality report: baselines, the museval wrapper and the validation loaders."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from conftest import require, require_module

from unsing.models import data, quality
from unsing.models.baselines import (
    PROJECT_STFT,
    OracleSeparator,
    centre_channel_cancellation,
    make_separators,
    mixture_as_estimate,
    oracle_ratio_mask,
)

RATE_HZ = quality.SAMPLE_RATE_HZ
DATA_ROOT = quality.default_data_root()


def _harmonic(f0_hz: np.ndarray, partials: int, rate_hz: int = RATE_HZ) -> np.ndarray:
    """A harmonic tone following the pitch track ``f0_hz`` (one value per sample)."""
    phase = 2 * np.pi * np.cumsum(f0_hz) / rate_hz
    return sum(np.sin(k * phase) / k for k in range(1, partials + 1))


def _synthetic_stems(seconds: float = 3.0, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Mono stems ``(1, samples)``: a gliding, gated 'voice' and a chord plus noise bursts."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    voice_f0 = 330.0 * 2 ** (np.sin(2 * np.pi * 0.7 * t) / 3 + 0.02 * np.sin(2 * np.pi * 5.5 * t))
    voice = _harmonic(voice_f0, 12) * (np.sin(2 * np.pi * 1.3 * t) > -0.6)
    chord = sum(_harmonic(np.full(t.shape, f), 6) for f in (110.0, 138.6, 164.8))
    bursts = rng.standard_normal(t.size) * (np.sin(2 * np.pi * 2.0 * t) > 0.9)
    accompaniment = chord + bursts
    voice *= np.sqrt(np.mean(accompaniment**2) / np.mean(voice**2))  # 0 dB
    return voice[None].astype(np.float32), accompaniment[None].astype(np.float32)


def _equal_energy_noise(seconds: int, channels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent white noises ``(channels, samples)`` with equal energy in every 1 s window."""
    rng = np.random.default_rng(seed)
    vocals = rng.standard_normal((channels, seconds, RATE_HZ))
    accompaniment = rng.standard_normal((channels, seconds, RATE_HZ))
    vocals /= np.sqrt(np.sum(vocals**2, axis=(0, 2), keepdims=True))
    accompaniment /= np.sqrt(np.sum(accompaniment**2, axis=(0, 2), keepdims=True))
    return vocals.reshape(channels, -1), accompaniment.reshape(channels, -1)


# ------------------------------------------------------------------------------------------
# museval wrapper


def test_near_perfect_estimate_scores_its_noise_level() -> None:
    # SDR is reference energy over error energy: an error 60 dB down gives 60 dB.
    rng = np.random.default_rng(1)
    vocals, accompaniment = _synthetic_stems(2.0)
    noise = rng.standard_normal((2, *vocals.shape))
    noise *= 1e-3 * np.sqrt(
        np.sum(np.stack([vocals, accompaniment]) ** 2, axis=(1, 2), keepdims=True)
        / np.sum(noise**2, axis=(1, 2), keepdims=True)
    )
    scores = quality.score_track(
        vocals, accompaniment, vocals + noise[0], accompaniment + noise[1], RATE_HZ
    )
    for stem in quality.STEMS:
        assert scores[stem]["SDR"] == pytest.approx(60.0, abs=1.0)
        assert scores[stem]["SIR"] > 50.0


@pytest.mark.parametrize("ratio_db", [0.0, 6.0])
def test_mixture_estimate_sdr_is_the_stems_energy_ratio(ratio_db: float) -> None:
    # For the mixture estimate the error is exactly the other stem, so in every window
    # vocals SDR = 10 log10(|v|^2 / |a|^2) = ratio_db and accompaniment SDR = -ratio_db.
    # Interference takes all of it: SIR = SDR up to the share of the other stem that
    # 512-tap filters of one's own reference can explain (~512 / 88200 here: < 0.1 dB),
    # and nothing is left for artifacts (SAR very high).
    vocals, accompaniment = _equal_energy_noise(seconds=2, channels=1, seed=3)
    vocals *= 10 ** (ratio_db / 20)
    mixture = vocals + accompaniment
    scores = quality.score_track(vocals, accompaniment, mixture, mixture, RATE_HZ)
    assert scores["vocals"]["SDR"] == pytest.approx(ratio_db, abs=1e-3)
    assert scores["accompaniment"]["SDR"] == pytest.approx(-ratio_db, abs=1e-3)
    assert scores["vocals"]["SIR"] == pytest.approx(ratio_db, abs=0.2)
    assert scores["vocals"]["SAR"] > 40.0


def test_framewise_scores_follow_museval_windows() -> None:
    vocals, accompaniment = _equal_energy_noise(seconds=3, channels=1, seed=4)
    tail = np.zeros((1, RATE_HZ // 2))  # a partial last window is dropped, as museval does
    vocals, accompaniment = (np.concatenate([x, tail], axis=1) for x in (vocals, accompaniment))
    references = np.stack([vocals, accompaniment])
    framewise = quality.bss_eval_v4(references, references + 1e-3 * references[::-1])
    assert framewise["SDR"].shape == (2, 3)
    np.testing.assert_allclose(framewise["SDR"], 60.0, atol=1e-6)


def test_silent_estimate_is_not_scored() -> None:
    vocals, accompaniment = _synthetic_stems(1.5)
    scores = quality.score_track(
        vocals, accompaniment, vocals + accompaniment, np.zeros_like(accompaniment)
    )
    assert all(math.isnan(scores[stem][m]) for stem in quality.STEMS for m in quality.METRICS)
    assert math.isnan(quality.median_over_tracks([scores])["vocals"]["SDR"])


def test_noise_floor_leaves_sdr_and_fixes_band_limited_sir() -> None:
    # Band-limited references (16 kHz material at 44.1 kHz) make museval's projections
    # ill-conditioned; the noise floor must not move SDR and must give a sane SIR.
    voice_16k, accompaniment_16k = _synthetic_stems(2.0)
    vocals, accompaniment = (
        soxr.resample(x[0], RATE_HZ, 16000)[None] for x in (voice_16k, accompaniment_16k)
    )
    vocals, accompaniment = (
        soxr.resample(x[0], 16000, RATE_HZ)[None] for x in (vocals, accompaniment)
    )
    estimates = oracle_ratio_mask(vocals + accompaniment, vocals, accompaniment)
    plain = quality.score_track(vocals, accompaniment, *estimates)
    floored = quality.score_track(vocals, accompaniment, *estimates, reference_noise_floor_db=-60.0)
    assert floored["vocals"]["SDR"] == pytest.approx(plain["vocals"]["SDR"], abs=0.01)
    assert floored["vocals"]["SIR"] >= floored["vocals"]["SDR"] - 0.5


def test_noise_floor_keeps_silent_windows_unscored() -> None:
    # A floor must not turn a silent stretch of the vocals into a scored window (where any
    # leakage would read as about -60 dB SDR).
    vocals, accompaniment = _equal_energy_noise(seconds=3, channels=1, seed=8)
    vocals[:, :RATE_HZ] = 0.0
    references = np.stack([vocals, accompaniment])
    mixture = vocals + accompaniment
    framewise = quality.bss_eval_v4(
        references, np.stack([mixture, mixture]), reference_noise_floor_db=-60.0
    )
    assert np.isnan(framewise["SDR"][:, 0]).all()
    np.testing.assert_allclose(framewise["SDR"][0, 1:], 0.0, atol=0.01)


# ------------------------------------------------------------------------------------------
# Baselines


def test_oracle_ratio_mask_beats_the_mixture_by_far() -> None:
    vocals, accompaniment = _synthetic_stems()
    mixture = vocals + accompaniment
    oracle = quality.score_track(
        vocals, accompaniment, *oracle_ratio_mask(mixture, vocals, accompaniment)
    )
    baseline = quality.score_track(vocals, accompaniment, *mixture_as_estimate(mixture, RATE_HZ))
    assert baseline["vocals"]["SDR"] == pytest.approx(0.0, abs=1.0)
    for stem in quality.STEMS:
        assert oracle[stem]["SDR"] > baseline[stem]["SDR"] + 8.0


def test_oracle_estimates_sum_to_the_mixture_and_keep_shape() -> None:
    vocals, accompaniment = (x.repeat(2, axis=0) for x in _synthetic_stems(0.5))
    mixture = vocals + accompaniment
    vocals_est, accompaniment_est = oracle_ratio_mask(mixture, vocals, accompaniment, PROJECT_STFT)
    assert vocals_est.shape == accompaniment_est.shape == mixture.shape
    assert vocals_est.dtype == np.float32
    np.testing.assert_allclose(vocals_est + accompaniment_est, mixture, atol=1e-5)


def test_centre_cancel_removes_a_centred_vocal_exactly() -> None:
    rng = np.random.default_rng(5)
    vocal = rng.standard_normal(RATE_HZ).astype(np.float32)
    sides = rng.standard_normal((2, RATE_HZ)).astype(np.float32)
    mixture = vocal + sides  # vocal identical in L and R
    vocals_est, accompaniment_est = centre_channel_cancellation(mixture, RATE_HZ)
    expected = (sides[0] - sides[1]) / np.sqrt(2.0)
    np.testing.assert_allclose(accompaniment_est, np.stack([expected, expected]), atol=1e-5)
    np.testing.assert_allclose(vocals_est + accompaniment_est, mixture, atol=1e-5)
    # Nothing but the centre: the accompaniment estimate is exact silence.
    centred = np.stack([vocal, vocal])
    assert not np.any(centre_channel_cancellation(centred, RATE_HZ)[1])


def test_centre_cancel_of_mono_is_silence_and_rejects_surround() -> None:
    mono = np.random.default_rng(6).standard_normal((1, 1000)).astype(np.float32)
    vocals_est, accompaniment_est = centre_channel_cancellation(mono, RATE_HZ)
    np.testing.assert_array_equal(vocals_est, mono)
    assert accompaniment_est.shape == mono.shape and not np.any(accompaniment_est)
    with pytest.raises(ValueError, match="1 or 2 channels"):
        centre_channel_cancellation(np.zeros((3, 10), np.float32), RATE_HZ)


def test_make_separators_names_and_errors() -> None:
    separators = make_separators(["mixture", "centre_cancel", "oracle_irm"])
    assert list(separators) == ["mixture", "centre_cancel", "oracle_irm"]
    assert isinstance(separators["oracle_irm"], OracleSeparator)
    with pytest.raises(ValueError, match="allowed"):
        make_separators(["karaoke"])


def test_report_takes_any_separator_and_renders(tmp_path) -> None:
    # A fake data root with one iKala-style clip: the report runs end to end, and a separator
    # of our own is one more dict entry.
    vocals, accompaniment = _synthetic_stems(2.0)
    (tmp_path / "ikala").mkdir()
    sf.write(tmp_path / "ikala" / "clip.flac", np.concatenate([accompaniment, vocals]).T, RATE_HZ)
    separators = make_separators(["mixture", "centre_cancel", "oracle_irm"])
    separators["half"] = lambda mixture, rate_hz: (0.5 * mixture, 0.5 * mixture)
    report = quality.quality_report(separators, tmp_path, sets=["ikala"])
    results = report["results"]["ikala"]
    assert results["oracle_irm"]["vocals"]["SDR"] > results["mixture"]["vocals"]["SDR"] + 8
    assert results["centre_cancel"]["vocals"]["SDR"] is None  # mono: silent accompaniment
    assert results["half"]["tracks"] == 1
    assert report["metadata"]["museval_version"]
    table = quality.render_markdown(report)
    assert "| ikala (1 items, 2 s) | oracle_irm |" in table
    assert "n/a" in table


# ------------------------------------------------------------------------------------------
# Validation material


def _require_data(folder: str) -> None:
    if not (DATA_ROOT / folder).is_dir():
        pytest.skip(f"validation data not found: {DATA_ROOT / folder}")


def _assert_track(track: data.ValidationItem, channels: int) -> None:
    assert track.vocals.dtype == track.accompaniment.dtype == np.float32
    assert track.vocals.shape == track.accompaniment.shape
    assert track.vocals.shape[0] == channels and track.vocals.shape[1] > RATE_HZ
    assert np.any(track.vocals) and np.any(track.accompaniment)


def _lag_of_peak(a: np.ndarray, b: np.ndarray, max_lag: int = 64) -> int:
    """The lag (samples) at which ``b`` best matches ``a``."""
    n = min(a.size, b.size) - 2 * max_lag
    scores = [
        np.dot(a[max_lag : max_lag + n], b[max_lag + k : max_lag + k + n])
        for k in range(-max_lag, max_lag + 1)
    ]
    return int(np.argmax(scores)) - max_lag


def test_mir1k_loader_mixes_held_out_singers_at_0_db() -> None:
    _require_data("mir1k")
    tracks = list(data.load_mir1k_validation(DATA_ROOT, RATE_HZ, max_items=2))
    assert [t.name.split("_")[0] for t in tracks] == ["abjones", "annar"]  # one per singer
    raw, raw_rate_hz = sf.read(DATA_ROOT / "mir1k" / "audio" / f"{tracks[0].name}.ogg")
    for track in tracks:
        _assert_track(track, channels=1)
        ratio_db = 10 * np.log10(np.sum(track.vocals**2.0) / np.sum(track.accompaniment**2.0))
        assert ratio_db == pytest.approx(0.0, abs=0.01)
    # Right channel is the voice, resampled to 44.1 kHz without delay.
    assert raw_rate_hz == 16000
    voice = soxr.resample(raw[:, 1], raw_rate_hz, RATE_HZ)
    assert tracks[0].vocals.shape[1] == pytest.approx(voice.size, abs=2)
    assert _lag_of_peak(voice, tracks[0].vocals[0]) == 0
    correlation = np.corrcoef(voice[: tracks[0].vocals.shape[1]], tracks[0].vocals[0])[0, 1]
    assert correlation > 0.999


def test_musdb_sample_loader_sums_the_accompaniment() -> None:
    _require_data("musdb18-sample")
    (track,) = data.load_musdb18_sample(DATA_ROOT, RATE_HZ)
    _assert_track(track, channels=2)
    mixture, rate_hz = sf.read(DATA_ROOT / "musdb18-sample" / "mixture.flac", dtype="float32")
    assert rate_hz == RATE_HZ
    error = track.mixture - mixture.T
    assert 10 * np.log10(np.sum(mixture**2) / np.sum(error**2)) > 25.0


def test_ikala_and_everything_is_free_loaders() -> None:
    _require_data("ikala")
    _require_data("everything-is-free")
    (clip,) = data.load_ikala(DATA_ROOT, RATE_HZ)
    _assert_track(clip, channels=1)
    assert clip.duration_s == pytest.approx(2.0)
    (sodium,) = data.load_everything_is_free(DATA_ROOT, RATE_HZ)
    _assert_track(sodium, channels=2)
    assert sodium.name == "sodium"
    assert sodium.duration_s == pytest.approx(304.87, abs=0.01)  # 48 kHz -> 44.1 kHz


def test_musdb18_7s_split_is_by_artist_and_never_trains_on_a_validation_song() -> None:
    """14 validation songs, each by an artist with no training song; the musdb18-sample's song
    (its own validation set) in neither; the loaders read them as stereo stem pairs."""
    _require_data("musdb18-7s")
    train = data.musdb7s_tracks(DATA_ROOT, "train")
    validation = data.musdb7s_tracks(DATA_ROOT, "validation")
    everything = sorted(p for p in (DATA_ROOT / "musdb18-7s").iterdir() if p.is_dir())
    assert len(validation) == 14 and len(train) == len(everything) - 15 == 79
    assert not {p.name for p in train} & {p.name for p in validation}
    assert "Music Delta - 80s Rock" not in {p.name for p in train + validation}

    def artist(path: Path) -> str:
        return path.name.split(" - ")[0]

    assert not {artist(p) for p in train} & {artist(p) for p in validation}
    songs = list(data.load_musdb18_7s(DATA_ROOT, RATE_HZ, max_items=2))
    assert [song.name for song in songs] == list(data.MUSDB7S_VALIDATION_TRACKS[:2])
    for song in songs:
        _assert_track(song, channels=2)
        assert song.set_name == "musdb18_7s" and 6.0 < song.duration_s < 7.5
    pool = data.build_training_pool(DATA_ROOT, RATE_HZ, musdb18_7s=True)
    musdb = pool.pair_groups["musdb"]
    assert len(musdb) == 79
    assert {pool.pairs[i][0].origin for i in musdb} == {str(p / "vocals.ogg") for p in train}
    items = data.build_validation_set(DATA_ROOT, RATE_HZ, mir1k_clips=1, musdb7s_songs=3)
    assert [item.name for item in items if item.set_name == "musdb18_7s"] == list(
        data.MUSDB7S_VALIDATION_TRACKS[:3]
    )


def test_every_set_has_a_loader_and_the_data_root_is_next_to_the_project() -> None:
    assert set(quality.VALIDATION_SETS) == {
        "mir1k",
        "eif-sodium",
        "musdb18-sample",
        "ikala",
        "musdb18-7s",
    }
    assert DATA_ROOT == quality.PROJECT_ROOT.parent / "shared" / "data"


# ------------------------------------------------------------------------------------------
# Spleeter (optional peer)


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (faster for these small calls on a busy machine)."""
    torch = require_module("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_torch_thread")
def test_spleeter_separates_the_musdb_sample() -> None:
    from unsing.models.baselines import SpleeterTwoStems, SpleeterUnavailableError

    _require_data("musdb18-sample")
    try:
        spleeter = SpleeterTwoStems()
    except SpleeterUnavailableError as error:
        require(str(error))
    (track,) = data.load_musdb18_sample(DATA_ROOT, RATE_HZ)
    span = slice(RATE_HZ, 4 * RATE_HZ)  # 3 s
    vocals, accompaniment = track.vocals[:, span], track.accompaniment[:, span]
    mixture = vocals + accompaniment
    vocals_est, accompaniment_est = spleeter(mixture, RATE_HZ)
    assert vocals_est.shape == accompaniment_est.shape == mixture.shape
    scores = quality.score_track(vocals, accompaniment, vocals_est, accompaniment_est)
    baseline = quality.score_track(vocals, accompaniment, mixture, mixture)
    assert scores["vocals"]["SDR"] > baseline["vocals"]["SDR"] + 6.0
    assert scores["accompaniment"]["SDR"] > baseline["accompaniment"]["SDR"] + 6.0
    # Mono in, mono out (duplicated to stereo inside), at another rate (resampled inside).
    mono = soxr.resample(mixture[0], RATE_HZ, 22050)[None].astype(np.float32)
    mono_vocals, _ = spleeter(mono, 22050)
    assert mono_vocals.shape == mono.shape
