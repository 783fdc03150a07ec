"""Offline separation from the sequence graph, in chunks.

* Chunked masks: the sequence graph run in chunks that overlap by the receptive field equals the
  streaming graph pushed frame by frame (``realtime.offline.masks_for``), on real audio, with
  several chunk boundaries inside, for the shipped model (a long band, 143 frames of context)
  and the look-ahead model (lab/models/lookahead4: 4 frames of look-ahead, 77 of context).

Tolerances (max absolute difference):

==============================================  =====
comparison                                      max
==============================================  =====
masks: sequence graph in chunks vs streaming    1e-5
==============================================  =====
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from unsing import PROJECT_ROOT
from unsing.config import load_config
from unsing.errors import ModelFileError
from unsing.long_band import model_input
from unsing.realtime.offline import masks_for
from unsing.realtime.onnx_model import OnnxMaskModel
from unsing.realtime.sequence_model import SequenceMaskModel, sequence_graph_path
from unsing.stft import stft

DEMO_SONG = Path(__file__).resolve().parent.parent / "assets/demo/karissa_hobbs-lets_go_fishin.ogg"
LOOKAHEAD_MODEL = "lab/models/lookahead4/unsing-lookahead4.onnx"
MASK_TOLERANCE = 1e-5


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
