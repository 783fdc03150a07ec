"""The stability benchmark's command line: a config overlay picks another model (no JACK here:
the measurement itself is stubbed)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import PROJECT_ROOT

from unsing.benchmarks import stability


def test_a_config_overlay_and_overrides_reach_the_measurement(
    monkeypatch, tmp_path: Path, write_config
) -> None:
    seen = {}

    def fake_run(seconds: float, load_seconds: float, config) -> dict:
        seen.update(seconds=seconds, load_seconds=load_seconds, config=config)
        return {"runs": []}

    monkeypatch.setattr(stability, "run", fake_run)
    model = PROJECT_ROOT / "lab/models/unet-only/unsing-unet-only.onnx"
    overlay = write_config(f"model:\n  path: {model}\n")
    out = tmp_path / "stability.json"
    argv = ["--config", str(overlay), "--seconds", "3", "--load-seconds", "0", "--cpu", "-1"]
    assert (
        stability.main([*argv, "--set", "engine.deadline_hop_fraction=0.7", "--out", str(out)]) == 0
    )
    config = seen["config"]
    assert config.model.path == model
    assert config.engine.deadline_hop_fraction == 0.7
    assert config.audio.host_api == "JACK"
    assert (seen["seconds"], seen["load_seconds"]) == (3.0, 0.0)
    assert json.loads(out.read_text())["pinned_cpu"] is None
