"""One source at a time: scores of separators with a known split, and the command on a tiny
everything-is-free tree."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile

from unsing.models.single_source import (
    README_END,
    README_START,
    main,
    single_source_report,
    single_source_scores,
)

RATE_HZ = 44100


def test_scores_of_a_fixed_split_are_its_gains() -> None:
    source = np.random.default_rng(0).standard_normal((2, 3 * RATE_HZ))
    # kept = 0.9 x: error 0.1 x -> 20 dB; removed = 0.1 x -> -20 dB, the same in every second
    scores = single_source_scores(source, 0.9 * source, 0.1 * source, RATE_HZ)
    assert scores["kept_sdr_db"] == pytest.approx(20.0, abs=1e-9)
    assert scores["removed_level_db"] == pytest.approx(-20.0, abs=1e-9)
    assert scores["worst_second_kept_sdr_db"] == pytest.approx(20.0, abs=1e-9)


def test_the_worst_second_finds_a_leak_the_whole_item_hides() -> None:
    source = np.random.default_rng(1).standard_normal((1, 20 * RATE_HZ))
    kept = source.copy()
    kept[:, :RATE_HZ] *= 0.5  # one bad second in 20: SDR 6.02 dB there, inf elsewhere
    kept[:, RATE_HZ : 2 * RATE_HZ] *= 0.9  # and one at 20 dB
    scores = single_source_scores(source, kept, source - kept, RATE_HZ)
    whole = 10 * np.log10(np.sum(source**2) / np.sum((source - kept) ** 2))
    assert scores["kept_sdr_db"] == pytest.approx(whole, abs=1e-9)
    assert scores["kept_sdr_db"] > 15  # the whole item's SDR hides the bad second
    assert scores["worst_second_kept_sdr_db"] == pytest.approx(20.0, abs=0.05)  # 10th of 20: 2nd
    assert scores["removed_level_db"] == pytest.approx(-whole, abs=1e-9)


def test_silent_seconds_are_skipped_and_an_exact_output_is_infinite() -> None:
    source = np.zeros((1, 5 * RATE_HZ))
    source[:, 2 * RATE_HZ : 3 * RATE_HZ] = np.random.default_rng(2).standard_normal(RATE_HZ)
    scores = single_source_scores(source, source, np.zeros_like(source), RATE_HZ)
    assert scores["kept_sdr_db"] == math.inf and scores["removed_level_db"] == -math.inf
    assert scores["worst_second_kept_sdr_db"] == math.inf


def write_sodium(root: Path) -> Path:
    rate_hz = 48000
    t = np.arange(3 * rate_hz) / rate_hz
    voice = 0.2 * np.sin(2 * np.pi * 440 * t)
    folder = root / "everything-is-free" / "sodium"
    folder.mkdir(parents=True)
    soundfile.write(folder / "vocals.ogg", np.stack([voice, voice], 1), rate_hz)
    noise = 0.05 * np.random.default_rng(3).standard_normal((t.size, 2))
    soundfile.write(folder / "accompaniment.ogg", noise, rate_hz)
    return root


def test_the_command_feeds_each_stem_alone(tmp_path: Path) -> None:
    root = write_sodium(tmp_path / "data")
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{README_START}\nold\n{README_END}\nafter\n")
    out = tmp_path / "single.json"
    args = ["--out", str(out), "--sets", "eif-sodium", "--methods", "mixture,centre_cancel"]
    assert main([*args, "--data-root", str(root), "--readme", str(readme)]) == 0
    report = json.loads(out.read_text())
    results = report["results"]["eif-sodium"]
    # no separation: both outputs are the input
    for input_name in ("instrumental", "a_cappella"):
        assert results[input_name]["mixture"]["kept_sdr_db"] == "inf"
        assert results[input_name]["mixture"]["removed_level_db"] == 0.0
    # the karaoke button: the centred voice cancels from the karaoke track (exactly: Vorbis
    # keeps identical channels identical); the uncorrelated noise loses most of its image
    removed = results["a_cappella"]["centre_cancel"]["removed_level_db"]
    assert removed == "-inf" or removed < -60
    assert results["instrumental"]["centre_cancel"]["kept_sdr_db"] < 3
    assert report["sets"]["eif-sodium"]["items"] == 1
    text = readme.read_text()
    assert "old" not in text and "| eif-sodium (1 items, 3 s) | a_cappella | mixture |" in text


def test_an_oracle_or_unknown_set_is_a_clear_error(tmp_path: Path, capsys) -> None:
    from unsing.models.baselines import make_separators

    with pytest.raises(ValueError, match="oracle needs both sources"):
        single_source_report(make_separators(["oracle_irm"]), data_root=tmp_path)
    assert main(["--out", str(tmp_path / "x.json"), "--sets", "nope"]) == 2
    assert "unknown set(s) ['nope']" in capsys.readouterr().err
