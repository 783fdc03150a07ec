"""The a cappella gate probe: open on songs, closed on a voice alone, no steps, nothing lost."""

from __future__ import annotations

import numpy as np

from lab.probes.acappella_gate import HOP_SAMPLES, gate_gains, gated

GATE = (-6.0, 2.0, -30.0, 50.0)


def _noise(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, int(44100 * seconds))) * 0.1


def test_gate_stays_open_while_the_accompaniment_holds_its_share() -> None:
    vocals, accompaniment = _noise(1.0, 1), _noise(1.0, 2)  # share -3 dB, above -6
    np.testing.assert_allclose(gate_gains(vocals, accompaniment, GATE), 1.0)


def test_gate_closes_to_its_floor_on_a_voice_alone_and_ramps_without_steps() -> None:
    vocals = _noise(2.0, 3)
    accompaniment = np.concatenate([_noise(1.0, 4), _noise(1.0, 5) * 0.01], axis=1)
    gains = gate_gains(vocals, accompaniment, GATE)
    assert gains[: 44100 // 2].min() == 1.0  # the song: open
    np.testing.assert_allclose(gains[-HOP_SAMPLES:], 10 ** (-30 / 20), rtol=1e-6)  # -40 dB share
    largest_step = np.abs(np.diff(gains)).max()
    assert largest_step < 1.0 / HOP_SAMPLES  # a hop's change spread over its samples


def test_gated_stems_still_sum_to_the_mixture() -> None:
    vocals = _noise(1.5, 6)
    accompaniment = _noise(1.5, 7) * np.linspace(1, 0.001, 66150)
    new_vocals, new_accompaniment = gated(vocals, accompaniment, GATE)
    np.testing.assert_allclose(new_vocals + new_accompaniment, vocals + accompaniment, atol=1e-12)
    assert np.sum(new_accompaniment**2) < np.sum(accompaniment**2)
