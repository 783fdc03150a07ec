"""Random-mix augmentation: each training example is a fresh mixture.

An example is either an excerpt of a real song's stems (their true relative level) or a random
vocal excerpt over a random accompaniment excerpt from another song at a random relative level.
Then: optional reverb on the voice, instrumental-only examples (vocals silent, so the model learns
to leave music untouched), optionally voice-only examples (accompaniment silent), stereo panning
and width (optionally an accompaniment collapsed to mono), channel swap, polarity, a random
filter on the whole mix, and a random overall level.
Optionally (``pitch_shift_semitones`` > 0) the voice of a random mix is resampled up or down a
few semitones, so that a few dozen singers stand for more voices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr
from scipy.signal import butter, fftconvolve, sosfilt

from unsing.models.data import SourcePool, Stem

#: Excerpts quieter than this RMS (dBFS) are redrawn (silence teaches nothing).
_SILENT_RMS_DB = -50.0


@dataclass(frozen=True)
class AugmentSettings:
    """Probabilities and ranges of the augmentation."""

    real_pair_probability: float = 0.35
    instrumental_only_probability: float = 0.1
    #: Voice-only examples (accompaniment silent), drawn with the same random number as the
    #: instrumental-only ones, so that 0 leaves every example as it was.
    vocal_only_probability: float = 0.0
    vocal_to_accompaniment_db: tuple[float, float] = (-12.0, 6.0)
    #: The voice is panned to a uniform position in ``-vocal_pan .. vocal_pan`` (-1 left,
    #: 1 right); produced songs put the lead vocal in the centre.
    vocal_pan: float = 0.3
    #: Share of examples whose accompaniment is collapsed to its mid (dual mono), so that a
    #: centred bin is not always the voice's (0: off, no random number drawn).
    mono_accompaniment_probability: float = 0.0
    reverb_probability: float = 0.15
    filter_probability: float = 0.25
    mix_peak_dbfs: tuple[float, float] = (-18.0, -1.0)
    #: Random mixes only: with this probability the vocal excerpt is played faster or slower by
    #: up to ``pitch_shift_semitones`` (pitch, formants and tempo together), another voice.
    pitch_shift_probability: float = 0.5
    pitch_shift_semitones: float = 0.0
    #: Real-pair examples: the share drawn from the ``musdb`` group's pairs (produced songs),
    #: the rest uniformly from the other pairs. 0: every pair alike (as the shipped model).
    musdb_pair_share: float = 0.0
    vocal_group_weights: tuple[tuple[str, float], ...] = (
        ("mir1k", 0.45),
        ("eif", 0.35),
        ("eif_band_limited", 0.05),
        ("solo_singing", 0.15),
        ("gtsinger", 0.15),
        ("musdb", 0.4),
        ("folders", 0.4),
        ("teacher", 0.3),
    )
    accompaniment_group_weights: tuple[tuple[str, float], ...] = (
        ("mir1k", 0.35),
        ("eif", 0.4),
        ("eif_band_limited", 0.05),
        ("instrumental", 0.2),
        ("instrumental_long", 0.3),
        ("musdb", 0.4),
        ("folders", 0.4),
        ("teacher", 0.3),
    )


def rms_db(audio: np.ndarray) -> float:
    """RMS level in dBFS (-inf for silence)."""
    power = float(np.mean(np.square(audio, dtype=np.float64)))
    return 10.0 * np.log10(power) if power > 0 else -np.inf


class RandomMixer:
    """Draws ``(mixture, vocals, accompaniment)`` examples, each ``(2, samples)`` float32."""

    def __init__(
        self,
        pool: SourcePool,
        sample_rate_hz: int,
        excerpt_samples: int,
        rng: np.random.Generator,
        settings: AugmentSettings | None = None,
    ) -> None:
        self.pool = pool
        self.sample_rate_hz = sample_rate_hz
        self.excerpt_samples = excerpt_samples
        self.rng = rng
        self.settings = settings or AugmentSettings()
        self._vocal_groups = self._weights(pool.vocal_groups, self.settings.vocal_group_weights)
        self._accompaniment_groups = self._weights(
            pool.accompaniment_groups, self.settings.accompaniment_group_weights
        )
        musdb = set(pool.pair_groups.get("musdb", []))
        self._other_pairs = [i for i in range(len(pool.pairs)) if i not in musdb]

    @staticmethod
    def _weights(
        groups: dict[str, list[int]], weights: tuple[tuple[str, float], ...]
    ) -> tuple[list[str], np.ndarray]:
        table = dict(weights)
        names = [name for name in groups if groups[name]]
        values = np.array([table.get(name, 0.1) for name in names], dtype=np.float64)
        return names, values / values.sum()

    def _pick(
        self, stems: list[Stem], groups: dict[str, list[int]], choice: tuple[list[str], np.ndarray]
    ) -> Stem:
        names, probabilities = choice
        group = names[self.rng.choice(len(names), p=probabilities)]
        indices = groups[group]
        # long recordings are drawn more often (uniform over time within a group)
        lengths = np.array([stems[i].audio.shape[1] for i in indices], dtype=np.float64)
        return stems[indices[self.rng.choice(len(indices), p=lengths / lengths.sum())]]

    def _pair_index(self) -> int:
        """A real pair: uniformly, or with ``musdb_pair_share`` from the ``musdb`` group."""
        share, rng = self.settings.musdb_pair_share, self.rng
        musdb = self.pool.pair_groups.get("musdb", [])
        if share <= 0.0 or not musdb or len(musdb) == len(self.pool.pairs):
            return int(rng.integers(len(self.pool.pairs)))
        if rng.random() < share:
            return musdb[int(rng.integers(len(musdb)))]
        others = self._other_pairs
        return others[int(rng.integers(len(others)))]

    def _excerpt(
        self, audio: np.ndarray, start: int | None = None, samples: int | None = None
    ) -> np.ndarray:
        """``samples`` (default ``excerpt_samples``) from ``audio`` (zero-padded if shorter)."""
        length = audio.shape[1]
        n = samples or self.excerpt_samples
        if length <= n:
            out = np.zeros((2, n), np.float32)
            out[:, :length] = audio
            return out
        if start is None:
            start = int(self.rng.integers(0, length - n))
        return audio[:, start : start + n].copy()

    def _audible_excerpt(self, stem: Stem, samples: int | None = None) -> np.ndarray:
        excerpt = self._excerpt(stem.audio, samples=samples)
        for _ in range(4):
            if rms_db(excerpt) > _SILENT_RMS_DB:
                break
            excerpt = self._excerpt(stem.audio, samples=samples)
        return excerpt

    def _shifted_excerpt(self, stem: Stem, semitones: float) -> np.ndarray:
        """An audible excerpt of ``stem`` played ``2 ** (semitones / 12)`` times faster (higher)
        or slower (lower), ``(2, excerpt_samples)``."""
        ratio = 2.0 ** (semitones / 12.0)
        wanted = self.excerpt_samples
        source_samples = int(np.ceil(wanted * ratio))
        source = self._audible_excerpt(stem, source_samples)
        shifted = soxr.resample(source.T, source_samples, wanted, quality="HQ").T
        out = np.zeros((2, wanted), np.float32)
        length = min(wanted, shifted.shape[1])
        out[:, :length] = shifted[:, :length]
        return out

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One example: ``(mixture, vocals, accompaniment)``, each ``(2, samples)`` float32."""
        s, rng = self.settings, self.rng
        if self.pool.pairs and rng.random() < s.real_pair_probability:
            vocal_stem, accompaniment_stem = self.pool.pairs[self._pair_index()]
            length = vocal_stem.audio.shape[1]
            start = int(rng.integers(0, max(1, length - self.excerpt_samples)))
            vocals = self._excerpt(vocal_stem.audio, start)
            accompaniment = self._excerpt(accompaniment_stem.audio, start)
            relative_db = 0.0
        else:
            vocal_stem = self._pick(self.pool.vocals, self.pool.vocal_groups, self._vocal_groups)
            if s.pitch_shift_semitones > 0 and rng.random() < s.pitch_shift_probability:
                vocals = self._shifted_excerpt(
                    vocal_stem, rng.uniform(-s.pitch_shift_semitones, s.pitch_shift_semitones)
                )
            else:
                vocals = self._audible_excerpt(vocal_stem)
            accompaniment = self._audible_excerpt(
                self._pick(
                    self.pool.accompaniments,
                    self.pool.accompaniment_groups,
                    self._accompaniment_groups,
                )
            )
            target = rng.uniform(*s.vocal_to_accompaniment_db)
            difference = rms_db(vocals) - rms_db(accompaniment)
            relative_db = target - difference if np.isfinite(difference) else 0.0
        vocals *= np.float32(10.0 ** (relative_db / 20.0))
        if rng.random() < s.reverb_probability:
            vocals = self._reverb(vocals)
        only = rng.random()
        if only < s.instrumental_only_probability:
            vocals[:] = 0.0
        elif only < s.instrumental_only_probability + s.vocal_only_probability:
            accompaniment[:] = 0.0
        vocals = self._pan(vocals, rng.uniform(-s.vocal_pan, s.vocal_pan))
        if s.mono_accompaniment_probability > 0 and rng.random() < s.mono_accompaniment_probability:
            accompaniment = self._widen(accompaniment, 0.0)
        accompaniment = self._widen(accompaniment, rng.uniform(0.6, 1.4))
        if rng.random() < 0.5:
            vocals, accompaniment = vocals[::-1].copy(), accompaniment[::-1].copy()
        if rng.random() < 0.5:
            vocals, accompaniment = -vocals, -accompaniment
        if rng.random() < s.filter_probability:
            sos = self._random_filter()
            vocals = sosfilt(sos, vocals, axis=-1).astype(np.float32)
            accompaniment = sosfilt(sos, accompaniment, axis=-1).astype(np.float32)
        mixture = vocals + accompaniment
        peak = float(np.abs(mixture).max())
        if peak > 0:
            scale = np.float32(10.0 ** (rng.uniform(*s.mix_peak_dbfs) / 20.0) / peak)
            mixture, vocals, accompaniment = mixture * scale, vocals * scale, accompaniment * scale
        return (
            mixture.astype(np.float32),
            vocals.astype(np.float32),
            accompaniment.astype(np.float32),
        )

    def _reverb(self, audio: np.ndarray) -> np.ndarray:
        """Synthetic room: exponentially decaying noise, RT60 0.2-1.2 s, 10-35 % wet."""
        rng, rate = self.rng, self.sample_rate_hz
        rt60_s = rng.uniform(0.2, 1.2)
        t = np.arange(int(rt60_s * rate)) / rate
        impulse = rng.standard_normal((2, t.size)) * np.exp(-6.9 * t / rt60_s)
        impulse /= np.sqrt(np.sum(impulse**2, axis=1, keepdims=True))
        wet = fftconvolve(audio, impulse, axes=-1)[:, : audio.shape[1]]
        mix = rng.uniform(0.1, 0.35)
        return ((1 - mix) * audio + mix * wet).astype(np.float32)

    @staticmethod
    def _pan(audio: np.ndarray, position: float) -> np.ndarray:
        """Constant-power pan of a stereo signal; position -1 (left) .. 1 (right)."""
        angle = (position + 1.0) * np.pi / 4.0
        gains = np.array([[np.cos(angle)], [np.sin(angle)]], np.float32) * np.float32(np.sqrt(2))
        return audio * gains

    @staticmethod
    def _widen(audio: np.ndarray, width: float) -> np.ndarray:
        """Scale the side signal by ``width`` (1 keeps the image)."""
        mid = 0.5 * (audio[0] + audio[1])
        side = 0.5 * (audio[0] - audio[1]) * np.float32(width)
        return np.stack([mid + side, mid - side]).astype(np.float32)

    def _random_filter(self) -> np.ndarray:
        """A gentle random low-pass (3-16 kHz) or high-pass (40-250 Hz), as SOS sections."""
        rate = self.sample_rate_hz
        if self.rng.random() < 0.6:
            cutoff = self.rng.uniform(3000.0, min(16000.0, 0.45 * rate))
            return butter(2, cutoff, btype="lowpass", fs=rate, output="sos")
        cutoff = self.rng.uniform(40.0, 250.0)
        return butter(2, cutoff, btype="highpass", fs=rate, output="sos")
