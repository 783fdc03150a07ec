"""The quality-vs-latency benchmark on the iKala clip (one 2 s item): every point is scored and
placed at its latency, and the plot is drawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, require, require_module

from unsing.models import quality


def test_quality_latency_points_and_plot(tmp_path: Path) -> None:
    require_module("torch")
    quality._load_museval_metrics()  # museval's metrics without its ffmpeg-bound package init
    require_module("matplotlib")
    if not (quality.default_data_root() / "ikala").is_dir():
        require("the shared data (ikala) is not here")
    from unsing.benchmarks import quality_latency

    shipped = PROJECT_ROOT / "models/pretrained/unsing-default.pt"
    ahead = PROJECT_ROOT / "lab/models/lookahead4/unsing-lookahead4.pt"
    document = quality_latency.run(
        [f"shipped={shipped}", f"ahead={ahead}"],
        ["ikala"],
        max_items=1,
        griffin_lim=((1, 2),),
        compute_hops=50,
    )
    points = document["points"]["ikala"]
    assert points["shipped"]["latency_ms"] == pytest.approx(1000 * 1024 / 44100)
    # each trained model is placed by its own contract: n_fft + look-ahead * hop
    assert points["ahead"]["latency_ms"] == pytest.approx(1000 * (1024 + 4 * 256) / 44100)
    assert (points["ahead"]["lookahead_frames"], points["ahead"]["context_frames"]) == (4, 77)
    assert points["shipped"]["n_fft"] == 1024 and points["shipped"]["hop_samples"] == 256
    assert points["shipped"]["trained"] == (
        "default-v2 + 1500 steps + 1000 steps + calibration + long band, 4000 steps"
    )
    # each model was exported and timed in the live engine at blocksize = hop
    for name in ("shipped", "ahead"):
        compute = points[name]["compute"]
        assert 0 < compute["engine_ms_p50"] <= compute["engine_ms_p99"]
        assert compute["hop_period_ms"] == pytest.approx(1000 * 256 / 44100, abs=1e-3)
    griffin_lim = points["shipped + online Griffin-Lim (look-ahead 1, 2 it.)"]
    assert griffin_lim["latency_ms"] == pytest.approx(1000 * (1024 + 1 * 256) / 44100)
    oracle = [points[f"oracle_irm n_fft {n}"] for n in quality_latency.N_FFTS]
    assert [p["latency_ms"] for p in oracle] == sorted(p["latency_ms"] for p in oracle)
    assert points["spleeter"]["latency_ms"] is None and points["mixture"]["latency_ms"] == 0.0
    for point in points.values():
        assert point["vocals_sdr_db"] is None or -30 < point["vocals_sdr_db"] < 60
    # the oracle mask beats the mixture at every window length
    assert all(p["vocals_sdr_db"] > points["mixture"]["vocals_sdr_db"] for p in oracle)
    png = quality_latency.plot(document, tmp_path / "plot.png")
    assert png.stat().st_size > 10_000

    # Rerun with the first document to reuse: an unchanged checkpoint, the baselines and the
    # oracles are copied; a changed checkpoint and the Griffin-Lim point are measured again.
    torch = require_module("torch")
    changed = torch.load(ahead, weights_only=False)
    changed["seed"] = -1  # same weights, different file: its hash no longer matches
    torch.save(changed, tmp_path / "ahead.pt")
    again = quality_latency.run(
        [f"shipped={shipped}", f"ahead={tmp_path / 'ahead.pt'}"],
        ["ikala"],
        max_items=1,
        griffin_lim=((1, 2),),
        compute_hops=50,
        previous=document,
    )["points"]["ikala"]
    assert set(again) == set(points)
    for name in ("shipped", "mixture", "spleeter", "oracle_irm n_fft 1024"):
        assert again[name]["reused_from"]["git_commit"] == document["machine"]["git_commit"]
        assert {k: v for k, v in again[name].items() if k != "reused_from"} == points[name]
    assert "reused_from" not in again["ahead"]
    assert again["ahead"]["vocals_sdr_db"] == pytest.approx(points["ahead"]["vocals_sdr_db"])
    assert "reused_from" not in again["shipped + online Griffin-Lim (look-ahead 1, 2 it.)"]
    # a model this run does not name (its run is elsewhere) keeps its measured point
    alone = quality_latency.reusable_points(document, ["ikala"], {"shipped": str(shipped)})
    assert alone["ikala"]["ahead"]["vocals_sdr_db"] == points["ahead"]["vocals_sdr_db"]


def test_trained_from_names_the_root_run_whatever_copy_of_a_model_was_the_start() -> None:
    from unsing.benchmarks.quality_latency import _lineage

    root = {"path": "runs/default-v2/last.pt", "step": 1750, "init_checkpoint": None}
    as_run = {"path": "runs/default-v3/last.pt", "step": 1500, "init_checkpoint": root}
    as_package = {**as_run, "path": "models/pretrained/unsing-default.pt"}
    assert _lineage(root) == "default-v2"
    assert _lineage(as_run) == _lineage(as_package) == "default-v2 + 1500 steps"
    assert _lineage({"path": "elsewhere/model.pt", "step": 7}) == "7 steps"
