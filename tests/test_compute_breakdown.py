"""The compute benchmark's hop breakdown (benchmarks/compute.py ``hop_breakdown``): every stage
of the default engine is reached by its timer, the stages of features that are off stay at
zero, and the stages add up to the whole hop (``input_and_checks`` is the rest). Times are
measured by the benchmark, not tested; the one comparison here (the gate's step against the
model's run) is two orders of magnitude apart."""

from __future__ import annotations

import math

import pytest

from unsing.benchmarks.compute import STAGES, hop_breakdown
from unsing.config import load_config

HOPS = 40


@pytest.fixture(scope="module")
def default_breakdown() -> dict:
    return hop_breakdown(load_config(), hops=HOPS, paced=False)


def test_every_stage_of_the_default_engine_is_timed(default_breakdown: dict) -> None:
    means = default_breakdown["stages_ms_mean"]
    assert list(means) == list(STAGES)
    off = {"key_change", "key_change_rubberband", "microphone"}  # features off by default
    for stage in STAGES:
        if stage in off:
            assert means[stage] == 0.0, stage
        elif stage != "input_and_checks":
            assert means[stage] > 0.0, stage  # its wrapper was called in the measured hops
    # the a cappella gate (on by default) is its own stage, not part of the spectra's rest
    assert load_config().engine.a_cappella_gate is True
    assert means["a_cappella_gate"] < means["model"]


def test_the_stages_add_up_to_the_whole_hop(default_breakdown: dict) -> None:
    shares = default_breakdown["stages_share_of_mean_hop"]
    assert math.isclose(sum(shares.values()), 1.0, abs_tol=0.01)
    assert default_breakdown["hops"] == HOPS
    assert default_breakdown["whole_hop_ms"]["p50"] > 0.0


def test_a_feature_turned_on_gets_its_stage() -> None:
    breakdown = hop_breakdown(
        load_config(overrides=["engine.key_semitones=2"]), hops=10, paced=False
    )
    assert breakdown["stages_ms_mean"]["key_change"] > 0.0
    assert breakdown["stages_ms_mean"]["key_change_rubberband"] == 0.0  # the STFT shifter, live
