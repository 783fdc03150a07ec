"""The probe's multichannel Wiener filter against independent references: the estimates add up
to the mixture, ``R = I`` on dual-mono input is the plain magnitude ratio mask, and the recursive
spatial covariance equals its direct weighted sum."""

import numpy as np

from lab.probes.causal_mwf import HOP, RATE, spatial_covariances, wiener

RNG = np.random.default_rng(7)


def _spectrum(bins: int = 5, frames: int = 40) -> np.ndarray:
    return RNG.normal(size=(2, bins, frames)) + 1j * RNG.normal(size=(2, bins, frames))


def test_estimates_add_up_to_the_mixture() -> None:
    vocals, accompaniment = _spectrum(), _spectrum()
    mixture = vocals + accompaniment
    for tau_s in (None, 0.5, float("inf")):
        v_hat, a_hat = wiener(mixture, [vocals, accompaniment], tau_s, exponent=2.0)
        np.testing.assert_allclose(v_hat + a_hat, mixture, rtol=1e-6, atol=1e-8)


def test_identity_covariance_on_dual_mono_is_the_magnitude_ratio_mask() -> None:
    one_channel = _spectrum()[:1]
    vocals = np.repeat(one_channel, 2, axis=0)
    accompaniment = np.repeat(_spectrum()[:1], 2, axis=0)
    mixture = vocals + accompaniment
    v_hat, _ = wiener(mixture, [vocals, accompaniment], None, exponent=1.0)
    mask = np.abs(vocals) / (np.abs(vocals) + np.abs(accompaniment))
    np.testing.assert_allclose(v_hat, mask * mixture, rtol=1e-6)


def test_recursive_covariance_is_the_weighted_sum_of_the_past() -> None:
    source = _spectrum(bins=3, frames=30)
    power = np.mean(np.abs(source) ** 2, axis=0)
    tau_s = 0.05
    result = spatial_covariances(source, power, tau_s)
    a = np.exp(-HOP / RATE / tau_s)
    t = 29
    weights = a ** np.arange(t, -1, -1)
    outer = np.einsum("cft,dft->fcdt", source[..., : t + 1], np.conj(source[..., : t + 1]))
    expected = (outer * weights).sum(-1) / (power[:, : t + 1] * weights).sum(-1)[:, None, None]
    np.testing.assert_allclose(result[:, t], expected, rtol=1e-6)
