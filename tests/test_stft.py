"""The one STFT definition: exact reconstruction, streaming equals one-shot, equals torch.stft.

Tolerances (max abs error on signals with peak ~1):
    float64: 1e-10    float32: 2e-5 (round trip), 1e-5 relative to the frame's peak (frames)
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from conftest import require_module

from unsing.stft import (
    StftSpec,
    StreamingIstft,
    StreamingStft,
    analysis_window,
    istft,
    stft,
    window_overlap_ok,
)

SPECS = [
    StftSpec(1024, 256, "hann"),
    StftSpec(2048, 512, "hann"),
    StftSpec(1024, 512, "sqrt_hann"),
    StftSpec(512, 128, "hamming"),
    StftSpec(4096, 1024, "blackman"),
    StftSpec(64, 16, "hann"),
]
TOLERANCE = {np.float64: 1e-10, np.float32: 2e-5}


def spec_id(spec: StftSpec) -> str:
    return f"{spec.window}-{spec.n_fft}-{spec.hop_samples}"


def run_streaming(signal: np.ndarray, spec: StftSpec, dtype: type) -> tuple[np.ndarray, ...]:
    """Feed ``signal`` (channels, samples) hop by hop; return (frames, output samples)."""
    channels, num_samples = signal.shape
    frames = spec.frame_count(num_samples)
    padded = np.zeros((channels, frames * spec.hop_samples), dtype=dtype)
    padded[:, :num_samples] = signal
    analysis = StreamingStft(spec, channels, dtype)
    synthesis = StreamingIstft(spec, channels, dtype)
    spectra, outputs = [], []
    for t in range(frames):
        frame = analysis.process(padded[:, t * spec.hop_samples : (t + 1) * spec.hop_samples])
        spectra.append(frame.copy())
        outputs.append(synthesis.process(frame).copy())
    return np.stack(spectra, axis=-1), np.concatenate(outputs, axis=-1)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_shot_round_trip_is_exact(music_like_signal, spec: StftSpec, dtype: type) -> None:
    signal = music_like_signal.astype(dtype)
    spectrum = stft(signal, spec)
    assert spectrum.shape == (2, spec.bins, spec.frame_count(signal.shape[-1]))
    assert spectrum.dtype == (np.complex64 if dtype == np.float32 else np.complex128)
    restored = istft(spectrum, spec, signal.shape[-1])
    assert restored.dtype == dtype
    np.testing.assert_allclose(restored, signal, rtol=0, atol=TOLERANCE[dtype])


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_streaming_equals_one_shot_frame_by_frame(music_like_signal, spec, dtype) -> None:
    signal = music_like_signal.astype(dtype)
    streamed_frames, _ = run_streaming(signal, spec, dtype)
    reference = stft(signal, spec)
    assert streamed_frames.shape == reference.shape
    scale = np.abs(reference).max()
    np.testing.assert_allclose(
        streamed_frames,
        reference,
        rtol=0,
        atol=1e-12 * scale if dtype == np.float64 else 1e-5 * scale,
    )


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_streaming_round_trip_is_the_input_delayed(music_like_signal, spec, dtype) -> None:
    signal = music_like_signal.astype(dtype)
    _, output = run_streaming(signal, spec, dtype)
    delay = spec.stream_delay_samples
    assert delay == spec.n_fft - spec.hop_samples
    np.testing.assert_allclose(output[:, :delay], 0.0, atol=TOLERANCE[dtype])
    np.testing.assert_allclose(
        output[:, delay : delay + signal.shape[-1]], signal, rtol=0, atol=TOLERANCE[dtype]
    )


@pytest.mark.parametrize("num_samples", [1, 255, 256, 257, 1023, 1024, 1025, 5000])
def test_any_length_round_trips(num_samples: int) -> None:
    spec = StftSpec(1024, 256, "hann")
    signal = np.random.default_rng(num_samples).standard_normal((1, num_samples))
    spectrum = stft(signal, spec)
    assert spectrum.shape[-1] == spec.frame_count(num_samples) == -(-num_samples // 256) + 3
    np.testing.assert_allclose(istft(spectrum, spec, num_samples), signal, atol=1e-10)


def test_frame_t_holds_the_samples_ending_at_its_hop() -> None:
    """Frame t covers samples [(t + 1) * hop - n_fft, (t + 1) * hop): an impulse at sample s
    appears first in frame s // hop, and is gone n_fft / hop frames later."""
    spec = StftSpec(1024, 256, "hann")
    signal = np.zeros((1, 4096))
    signal[0, 1000] = 1.0
    energy = np.abs(stft(signal, spec)[0]).sum(axis=0)
    touched = np.nonzero(energy > 1e-9)[0]
    first = 1000 // 256
    assert touched[0] == first
    assert touched[-1] == first + spec.overlap - 1


def test_windows_that_cannot_reconstruct_are_rejected() -> None:
    assert window_overlap_ok("hann", 1024, 256)
    assert window_overlap_ok("sqrt_hann", 1024, 512)
    assert not window_overlap_ok("hann", 1024, 1024)  # hann is 0 at the frame edge
    assert not window_overlap_ok("hann", 1024, 300)  # hop must divide n_fft
    with pytest.raises(ValueError, match="multiple of hop_samples"):
        StftSpec(1000, 300)
    with pytest.raises(ValueError, match="window 'kaiser'"):
        StftSpec(1024, 256, "kaiser")


@pytest.mark.parametrize("spec", SPECS[:4], ids=spec_id)
def test_numpy_stft_equals_torch_stft(music_like_signal, spec: StftSpec) -> None:
    """Independent reference: torch.stft (center=False, unnormalised, onesided) on the signal
    padded with n_fft - hop zeros in front and to a whole number of hops at the end."""
    torch = require_module("torch")
    signal = music_like_signal
    frames = spec.frame_count(signal.shape[-1])
    lead = spec.n_fft - spec.hop_samples
    tail = frames * spec.hop_samples - signal.shape[-1]
    padded = torch.nn.functional.pad(torch.from_numpy(signal), (lead, tail))
    windows = {
        "hann": torch.hann_window(spec.n_fft, periodic=True, dtype=torch.float64),
        "hamming": torch.hamming_window(spec.n_fft, periodic=True, dtype=torch.float64),
        "sqrt_hann": torch.hann_window(spec.n_fft, periodic=True, dtype=torch.float64).sqrt(),
    }
    reference = torch.stft(
        padded,
        spec.n_fft,
        spec.hop_samples,
        window=windows[spec.window],
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    ours = stft(signal, spec)
    assert ours.shape == tuple(reference.shape)
    np.testing.assert_allclose(ours, reference.numpy(), rtol=0, atol=1e-9)


def test_streaming_hot_path_allocates_no_buffers() -> None:
    """After warm-up, a hop of analysis + synthesis allocates no array memory, only transient
    Python objects (views, argument tuples) far smaller than the smallest array involved."""
    spec = StftSpec(1024, 256, "hann")
    analysis, synthesis = StreamingStft(spec, 2), StreamingIstft(spec, 2)
    block = np.random.default_rng(0).standard_normal((2, 256)).astype(np.float32)
    for _ in range(10):
        synthesis.process(analysis.process(block))
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(200):
            synthesis.process(analysis.process(block))
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    hop_block_bytes = block.size * 8  # one float64 hop block: the smallest array involved
    assert peak - baseline < hop_block_bytes, f"peak grew by {peak - baseline} bytes per hop"
    assert current - baseline < 1024


def test_reset_forgets_the_past() -> None:
    spec = StftSpec(512, 128, "hann")
    analysis, synthesis = StreamingStft(spec, 1), StreamingIstft(spec, 1)
    noise = np.random.default_rng(2).standard_normal((1, 128)).astype(np.float32)
    for _ in range(7):
        synthesis.process(analysis.process(noise))
    analysis.reset()
    synthesis.reset()
    silence = np.zeros((1, 128), np.float32)
    assert np.abs(analysis.process(silence)).max() == 0.0
    assert np.abs(synthesis.process(analysis.process(silence))).max() == 0.0


@pytest.mark.parametrize("name", ["hann", "hamming", "blackman", "sqrt_hann"])
@pytest.mark.parametrize("samples", [1, 2, 7, 256, 1000, 1024, 4096])
def test_windows_are_scipys_to_the_last_bit(name: str, samples: int) -> None:
    """The numpy windows (no scipy import at start-up) equal scipy.signal.get_window's."""
    from scipy.signal import get_window

    reference = get_window("hann" if name == "sqrt_hann" else name, samples, fftbins=True)
    if name == "sqrt_hann":
        reference = np.sqrt(reference)
    np.testing.assert_array_equal(analysis_window(name, samples), reference)


def test_the_command_line_starts_without_scipy() -> None:
    import subprocess
    import sys

    code = "import sys, unsing.cli.engine, unsing.cli.info; print('scipy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("long_window", [False, True], ids=["stft", "long-window"])
def test_late_overlap_add_differs_only_in_the_newest_frames_first_hop(long_window) -> None:
    """``process_late(provisional_t, final_t-1)``: every frame's final samples but the first
    hop of each frame, which is its provisional version; against a direct sum of windowed
    frames (and, with provisional = final, exactly :meth:`process`)."""
    from unsing.stft import LongWindowSpec

    short = StftSpec(1024, 256, "hann")
    spec = LongWindowSpec(4096, short) if long_window else short
    rng = np.random.default_rng(7)
    frames = 40
    final = rng.standard_normal((frames, 2, spec.bins)) + 1j * rng.standard_normal(
        (frames, 2, spec.bins)
    )
    provisional = final * rng.uniform(0.0, 1.0, (frames, 2, spec.bins))
    late, plain = StreamingIstft(spec, 2), StreamingIstft(spec, 2)
    silent = np.zeros((2, spec.bins), np.complex128)
    hop, length = spec.hop_samples, spec.synthesis_samples
    out_late = np.concatenate(
        [
            late.process_late(provisional[t], final[t - 1] if t else silent).copy()
            for t in range(frames)
        ],
        axis=1,
    )
    out_plain = np.concatenate([plain.process(final[t]).copy() for t in range(frames)], axis=1)
    # the reference: each frame's windowed samples placed at its hop, final but the first hop
    window = spec.synthesis_tail()
    reference = np.zeros((2, (frames + length // hop) * hop))
    for t in range(frames):
        piece = np.fft.irfft(final[t], n=spec.frame_samples)[:, -length:] * window
        head = np.fft.irfft(provisional[t], n=spec.frame_samples)[:, -length:] * window
        piece[:, :hop] = head[:, :hop]
        reference[:, t * hop : t * hop + length] += piece
    np.testing.assert_allclose(out_late, reference[:, : frames * hop], atol=1e-10)
    assert np.abs(out_late - out_plain).max() > 1e-3  # (the provisional heads did differ)
    same, plain = StreamingIstft(spec, 2), StreamingIstft(spec, 2)
    for t in range(frames):
        np.testing.assert_allclose(
            same.process_late(final[t], final[t - 1] if t else silent),
            plain.process(final[t]),
            atol=1e-12,
        )
