"""EngineSeparator: the engine as configured, as the quality reports' separator.

Its stems are ``unsing separate --mode offline``'s, which equal the float64 reference
(``separate_offline``, the streaming graph frame by frame) to float32 round-off; config
overrides reach it (the a cappella gate); any rate, mono or stereo in, stems of the input's
shape that sum to it; the reports take ``--engine NAME[:KEY=VALUE,...]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_offline import demo_excerpt
from test_single_source import write_sodium

from unsing.config import load_config
from unsing.models.engine_separator import EngineSeparator, parse_engine_spec
from unsing.models.single_source import main as single_source_main
from unsing.realtime.offline import separate_offline
from unsing.realtime.onnx_model import OnnxMaskModel

GATE = ["engine.a_cappella_gate=true", "engine.a_cappella_gate_threshold_db=-1"]


@pytest.mark.parametrize("overrides", [[], GATE], ids=["shipped", "gated"])
def test_stems_equal_the_engines_reference(overrides) -> None:
    song = demo_excerpt(40.0, 3.0)
    vocals, accompaniment = EngineSeparator(overrides)(song.T, 44100)
    config = load_config(overrides=overrides)
    reference = separate_offline(config, OnnxMaskModel(config), song)
    np.testing.assert_allclose(vocals.T, reference[0], atol=1e-5)
    np.testing.assert_allclose(accompaniment.T, reference[1], atol=1e-5)


@pytest.mark.parametrize(("channels", "rate"), [(1, 44100), (2, 16000), (1, 48000)])
def test_any_rate_and_channels_give_stems_of_the_inputs_shape(channels, rate) -> None:
    t = np.arange(rate) / rate
    mixture = np.stack(
        [
            sum(0.05 * np.sin(2 * np.pi * hz * t + c) for hz in (110, 440, 1234))
            for c in range(channels)
        ]
    ).astype(np.float32)
    vocals, accompaniment = EngineSeparator()(mixture, rate)
    assert vocals.shape == accompaniment.shape == mixture.shape
    error = np.abs(vocals + accompaniment - mixture)
    assert error.max() < 1e-6 if rate == 44100 else error[:, 500:-500].max() < 2e-5


def test_engine_specs_and_their_errors() -> None:
    assert parse_engine_spec("engine") == ("engine", [])
    assert parse_engine_spec(
        "g:engine.a_cappella_gate=true, engine.a_cappella_gate_threshold_db=-4"
    ) == (
        "g",
        ["engine.a_cappella_gate=true", "engine.a_cappella_gate_threshold_db=-4"],
    )
    with pytest.raises(ValueError, match="give a name"):
        parse_engine_spec(":engine.a_cappella_gate=true")


def test_the_single_source_report_scores_engines(tmp_path: Path) -> None:
    root = write_sodium(tmp_path / "data")
    out = tmp_path / "single.json"
    argv = [
        "--out",
        str(out),
        "--sets",
        "eif-sodium",
        "--methods",
        "mixture",
        "--data-root",
        str(root),
    ]
    assert (
        single_source_main([*argv, "--engine", "engine", "--engine", "gated:" + ",".join(GATE)])
        == 0
    )
    results = json.loads(out.read_text())["results"]["eif-sodium"]["a_cappella"]
    assert set(results) == {"mixture", "engine", "gated"}
    assert results["gated"]["removed_level_db"] <= results["engine"]["removed_level_db"]
