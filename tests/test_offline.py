"""Offline separation from the sequence graph, in chunks.

* Chunked masks: the sequence graph run in chunks that overlap by the receptive field equals the
  streaming graph pushed frame by frame (``realtime.offline.masks_for``), on real audio, with
  several chunk boundaries inside, for the shipped model (a long band, 143 frames of context)
  and the look-ahead model (lab/models/lookahead4: 4 frames of look-ahead, 77 of context).
* ``offline_vocals`` (float32, the sequence graph, blocks of any size) equals
  ``separate_offline`` (the same chunked pipeline in float64 with the streaming graph frame by
  frame: the reference the engine is tested against) and the one-shot whole-song path that
  ``separate_offline`` was before (:func:`one_shot_vocals`): on real audio, on signals
  shorter than a hop, on silence.
* Memory: the peak of ``offline_vocals`` does not grow with the song's length.

Tolerances (max absolute difference; samples at full scale 1):

=================================================  ======  ======================================
comparison                                         max     why
=================================================  ======  ======================================
masks: sequence graph in chunks vs streaming       1e-5    float32 convolutions summed in another
                                                           order (measured <= 7e-7)
vocals: offline_vocals vs float64 references       2e-6    float32 STFT, masks as above (measured
                                                           <= 4.5e-7 on the demo song; a synthetic
                                                           signal in tests/test_engine.py: 4.6e-6)
vocals: separate_offline vs one-shot (float64)     1e-7    chunked vs one-shot, same masks
=================================================  ======  ======================================
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module

from unsing import PROJECT_ROOT
from unsing.config import load_config
from unsing.errors import ModelFileError
from unsing.long_band import hybrid_vocals, model_input
from unsing.realtime.offline import masks_for, offline_vocals, separate_offline
from unsing.realtime.onnx_model import OnnxMaskModel
from unsing.realtime.sequence_model import (
    DEFAULT_CHUNK_FRAMES,
    SequenceMaskModel,
    sequence_graph_path,
)
from unsing.stft import istft, stft

DEMO_SONG = Path(__file__).resolve().parent.parent / "assets/demo/karissa_hobbs-lets_go_fishin.ogg"
LOOKAHEAD_MODEL = "lab/models/lookahead4/unsing-lookahead4.onnx"
MASK_TOLERANCE = 1e-5
FLOAT32_TOLERANCE = 2e-6
CHUNKED_TOLERANCE = 1e-7


def demo_excerpt(start_s: float, seconds: float) -> np.ndarray:
    """``(samples, 2)`` float32 of the demo song (44.1 kHz stereo, voice and band)."""
    import soundfile

    rate = soundfile.info(str(DEMO_SONG)).samplerate
    audio, _ = soundfile.read(
        str(DEMO_SONG),
        start=int(start_s * rate),
        frames=int(seconds * rate),
        dtype="float32",
        always_2d=True,
    )
    return audio


def config_for(model_path: str | None):
    overrides = [] if model_path is None else [f"model.path={PROJECT_ROOT / model_path}"]
    return load_config(overrides=overrides)


@pytest.fixture(scope="module")
def excerpt() -> np.ndarray:
    return demo_excerpt(40.0, 6.0)


@pytest.mark.parametrize(
    ("model_path", "chunk_frames"),
    [(None, 300), (None, 50), (LOOKAHEAD_MODEL, 200), (LOOKAHEAD_MODEL, 3)],
    ids=["default-300", "default-50", "lookahead4-200", "lookahead4-3"],
)
def test_chunked_sequence_masks_equal_the_streaming_graph(excerpt, model_path, chunk_frames):
    config = config_for(model_path)
    streaming = OnnxMaskModel(config)
    sequence = SequenceMaskModel(config)
    assert sequence.path == sequence_graph_path(config.model.path)
    signal = excerpt.T.astype(np.float64)
    spectrum = stft(signal, config.contract.stft)
    layout = streaming.long_band
    long_spectrum = None if layout is None else stft(signal, layout.spec)
    magnitude = model_input(spectrum, long_spectrum, layout).astype(np.float32)
    reference = masks_for(streaming, magnitude, config.contract.lookahead_frames)
    masks = sequence.masks(magnitude, chunk_frames)
    assert masks.shape == reference.shape == (2, sequence.output_bins, magnitude.shape[-1])
    assert magnitude.shape[-1] > 3 * chunk_frames  # boundaries inside
    np.testing.assert_allclose(masks, reference, atol=MASK_TOLERANCE, rtol=0)
    # the same frames pushed in uneven pieces give the same masks
    chunks = sequence.chunked(chunk_frames)
    cuts = [0, 1, 2, 130, 131, 700, magnitude.shape[-1]]
    pieces = [chunks.push(magnitude[..., a:b]) for a, b in itertools.pairwise(cuts)]
    np.testing.assert_array_equal(np.concatenate([*pieces, chunks.finish()], -1), masks)
    # runs on worker threads, several at once: the same masks
    parallel = sequence.chunked(chunk_frames, workers=2)
    pieces = [parallel.push(magnitude[..., a:b]) for a, b in itertools.pairwise(cuts)]
    np.testing.assert_array_equal(np.concatenate([*pieces, parallel.finish()], -1), masks)


def test_a_missing_or_wrong_sequence_graph_is_a_one_line_error(tmp_path) -> None:
    config = config_for(None)
    for name in ("unsing-default.onnx", "unsing-default.window.onnx"):
        (tmp_path / name).write_bytes((config.model.path.parent / name).read_bytes())
    with pytest.raises(ModelFileError, match="re-export the model with `unsing export`") as error:
        SequenceMaskModel(config, tmp_path / "unsing-default.onnx")
    assert "sequence graph not found" in str(error.value) and "\n" not in str(error.value)
    # a sequence graph of another model (other context and look-ahead) is refused
    other = PROJECT_ROOT / LOOKAHEAD_MODEL
    (tmp_path / "unsing-default.sequence.onnx").write_bytes(sequence_graph_path(other).read_bytes())
    with pytest.raises(ModelFileError, match="context_frames = 77 but the engine was set up"):
        SequenceMaskModel(config, tmp_path / "unsing-default.onnx")
    # a streaming graph where the sequence graph should be
    (tmp_path / "unsing-default.sequence.onnx").write_bytes(config.model.path.read_bytes())
    with pytest.raises(ModelFileError, match="not an unsing sequence graph"):
        SequenceMaskModel(config, tmp_path / "unsing-default.onnx")


def test_a_sequence_graph_of_another_checkpoint_is_refused(tmp_path) -> None:
    """Same contract, another checkpoint (an older export left beside the model)."""
    onnx = require_module("onnx")
    config = config_for(None)
    for name in ("unsing-default.onnx", "unsing-default.window.onnx"):
        (tmp_path / name).write_bytes((config.model.path.parent / name).read_bytes())
    stale = onnx.load(str(sequence_graph_path(config.model.path)))
    for prop in stale.metadata_props:
        if prop.key == "unsing.source_checkpoint_sha256":
            prop.value = "0" * 64
    onnx.save(stale, str(tmp_path / "unsing-default.sequence.onnx"))
    with pytest.raises(ModelFileError, match="exported from another checkpoint"):
        SequenceMaskModel(config, tmp_path / "unsing-default.onnx")


def one_shot_vocals(config, model, audio: np.ndarray) -> np.ndarray:
    """The vocals ``(samples, channels)`` float64 as ``separate_offline`` computed them before
    it went chunk by chunk: one-shot float64 STFT of the whole song, the model frame by frame
    (``masks_for``), one-shot inverse STFT (``hybrid_vocals`` for a long band)."""
    spec = config.contract.stft
    signal = np.asarray(audio, np.float64).T
    spectrum = stft(signal, spec)
    layout = model.long_band
    lookahead = config.contract.lookahead_frames
    if layout is not None:
        long_spectrum = stft(signal, layout.spec)
        masks = masks_for(model, model_input(spectrum, long_spectrum, layout), lookahead)
        return hybrid_vocals(signal, spectrum, long_spectrum, masks, layout).T
    masks = masks_for(model, np.abs(spectrum), lookahead)
    return istft(spectrum * masks, spec, signal.shape[1]).T


def in_blocks(audio: np.ndarray, size: int) -> list[np.ndarray]:
    return [audio[start : start + size] for start in range(0, audio.shape[0], size)]


@pytest.fixture(scope="module", params=[None, LOOKAHEAD_MODEL], ids=["default", "lookahead4"])
def references(request, excerpt):
    """(config, audio, one-shot vocals, separate_offline's vocals) on 3 s of the demo song."""
    config = config_for(request.param)
    model = OnnxMaskModel(config)
    audio = excerpt[: 3 * 44100 + 123]
    vocals, accompaniment = separate_offline(config, model, audio, chunk_frames=150)
    assert vocals.dtype == accompaniment.dtype == np.float32
    np.testing.assert_allclose(vocals + accompaniment, audio, atol=1e-6)
    return config, audio, one_shot_vocals(config, model, audio), vocals


@pytest.mark.parametrize("block", [1, 65, 4097, None], ids=["1", "65", "4097", "whole"])
def test_offline_vocals_equal_the_references_for_any_block_size(references, block) -> None:
    config, audio, one_shot, reference = references
    blocks = [audio] if block is None else in_blocks(audio, block)
    parts = list(offline_vocals(config, blocks, chunk_frames=100))  # chunk boundaries inside
    assert all(part.dtype == np.float32 and part.shape[1] == 2 for part in parts)
    vocals = np.concatenate(parts)
    assert vocals.shape == audio.shape
    np.testing.assert_allclose(vocals, reference, atol=FLOAT32_TOLERANCE, rtol=0)
    np.testing.assert_allclose(vocals, one_shot, atol=FLOAT32_TOLERANCE, rtol=0)
    np.testing.assert_allclose(reference, one_shot, atol=CHUNKED_TOLERANCE, rtol=0)
    assert 0.05 < np.std(vocals) / np.std(audio) < 0.95  # it separated something


def test_offline_vocals_chunk_size_changes_nothing_but_round_off(references) -> None:
    config, audio, _, _ = references
    small = np.concatenate(list(offline_vocals(config, [audio], chunk_frames=7)))
    large = np.concatenate(list(offline_vocals(config, in_blocks(audio, 10000))))
    np.testing.assert_allclose(small, large, atol=FLOAT32_TOLERANCE, rtol=0)


@pytest.mark.parametrize("samples", [0, 1, 100, 255, 256, 257, 1023, 1500])
def test_signals_shorter_than_the_frames(samples) -> None:
    """Shorter than one hop, one hop, one window: as long as the input, equal to the
    references (the frames past the end are silence)."""
    config = config_for(None)
    rng = np.random.default_rng(samples)
    audio = (0.3 * rng.standard_normal((samples, 2))).astype(np.float32)
    vocals = list(offline_vocals(config, in_blocks(audio, 77) if samples else []))
    vocals = np.concatenate(vocals) if vocals else np.zeros((0, 2), np.float32)
    assert vocals.shape == audio.shape
    if samples:
        model = OnnxMaskModel(config)
        reference, _ = separate_offline(config, model, audio)
        np.testing.assert_allclose(vocals, reference, atol=FLOAT32_TOLERANCE, rtol=0)
        np.testing.assert_allclose(
            vocals, one_shot_vocals(config, model, audio), atol=FLOAT32_TOLERANCE, rtol=0
        )


def test_silence_gives_silence() -> None:
    config = config_for(None)
    silence = np.zeros((5 * 44100 + 17, 2), np.float32)
    vocals = np.concatenate(list(offline_vocals(config, in_blocks(silence, 44100))))
    assert vocals.shape == silence.shape and not vocals.any()


def test_blocks_of_the_wrong_shape_are_refused() -> None:
    config = config_for(None)
    with pytest.raises(ValueError, match=r"takes \(samples, 2\) blocks"):
        list(offline_vocals(config, [np.zeros((100, 1), np.float32)]))


def test_a_missing_sequence_graph_fails_at_the_call_before_any_block_is_read(tmp_path) -> None:
    config = config_for(None)
    for name in ("unsing-default.onnx", "unsing-default.window.onnx"):
        (tmp_path / name).write_bytes((config.model.path.parent / name).read_bytes())
    moved = load_config(overrides=[f"model.path={tmp_path / 'unsing-default.onnx'}"])

    def blocks():
        raise AssertionError("no block may be read")
        yield  # pragma: no cover

    with pytest.raises(ModelFileError, match="sequence graph not found"):
        offline_vocals(moved, blocks())


@pytest.mark.slow
def test_memory_does_not_grow_with_the_songs_length(exported) -> None:
    """The peak of the arrays offline_vocals allocates (tracemalloc: numpy's, not
    onnxruntime's arena, whose size follows the chunk) on 60 s and on 240 s of audio, made
    block by block: at most two chunks' masks more (a whole-song array would add 42 MB per
    minute and channel at float64, 21 at float32: 63 MB or more here).

    The two are not equal: how many of the worker threads' windows and masks coexist with the
    caller's arrays depends on thread timing, and a longer song has more chances at the worst
    overlap (one chunk more, 4.2 MB, in a CI run beside a training job)."""
    import tracemalloc

    config = load_config(overrides=[f"model.path={exported[1]}"])

    def song(seconds: int):
        rng = np.random.default_rng(seconds)
        for _ in range(seconds):
            yield (0.1 * rng.standard_normal((44100, 2))).astype(np.float32)

    peaks = {}
    for seconds in (60, 240):
        tracemalloc.start()
        try:
            samples = sum(block.shape[0] for block in offline_vocals(config, song(seconds)))
            peaks[seconds] = tracemalloc.get_traced_memory()[1] / 1e6
        finally:
            tracemalloc.stop()
        assert samples == seconds * 44100
    contract = config.contract
    chunk_masks_mb = contract.channels * contract.stft.bins * DEFAULT_CHUNK_FRAMES * 4 / 1e6
    assert peaks[240] - peaks[60] < 2 * chunk_masks_mb, peaks
    assert peaks[240] < 150, peaks  # a few chunks of frames (2048 frames: about 100 MB)
