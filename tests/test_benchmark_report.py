"""The performance tables of docs/performance.md are generated from the committed benchmark
results."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from conftest import PROJECT_ROOT, require_module

from unsing.benchmarks import report

RESULTS = PROJECT_ROOT / "benchmarks/results"


def test_docs_performance_block_matches_the_committed_results() -> None:
    doc = (PROJECT_ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    match = re.search(re.escape(report.START) + r"\n(.*?)\n" + re.escape(report.END), doc, re.S)
    assert match, "docs/performance.md has no performance block"
    assert match.group(1) == report.performance_block(RESULTS), (
        "docs/performance.md is stale: run python -m unsing.benchmarks.report "
        "--doc docs/performance.md"
    )


def test_report_draws_plots_and_rewrites_only_its_block(tmp_path: Path) -> None:
    require_module("matplotlib")
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    for png in results.glob("*.png"):
        png.unlink()
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{report.START}\nold\n{report.END}\n\ntail\n", encoding="utf-8")
    assert report.main(["--results", str(results), "--doc", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# title\n\n") and text.endswith("\n\ntail\n")
    assert "old" not in text and "| default (model) |" in text
    for name in ("latency", "compute", "stability"):
        assert (results / f"{name}.png").stat().st_size > 1000


def test_stability_compares_each_engine_run_with_the_pass_through_under_the_same_load() -> None:
    def run(kind: str, load: int, xruns: int, server: int = 0) -> dict:
        return {
            "kind": kind,
            "load_processes": load,
            "seconds": 60,
            "callbacks": 10000,
            "xruns": xruns,
            "jack_server_xruns": server,
        }

    runs = [
        run("pass_through", 0, 0),
        run("engine", 0, 0),
        run("pass_through", 2, 2, 2),
        run("engine", 2, 3, 3),
        run("engine", 1, 1),
    ]
    machine = {"date_utc": "d", "cpu": "c", "logical_cores": 2, "git_commit": "g"}
    lines = report.stability_table({"runs": runs, "machine": machine})
    cells = [line.split(" | ")[6] for line in lines[4:]]
    assert cells == ["-", "equal (0 and 0)", "-", "1.50x", "no pass-through run"]
    assert report._xrun_ratio(run("engine", 0, 4), [run("pass_through", 0, 0)]) == "4 vs 0"


def test_quality_latency_reports_every_set(tmp_path: Path) -> None:
    import copy
    import json

    document = json.loads((RESULTS / "quality_latency.json").read_text())
    first = next(iter(document["points"]))
    document["points"] = {first: document["points"][first]}  # the committed first set only
    stereo = copy.deepcopy(document["points"][first])
    stereo["centre_cancel"].update(vocals_sdr_db=-3.04, accompaniment_sdr_db=-0.13)
    document["points"]["stereo-set"] = stereo
    document["sets"]["stereo-set"] = {"tracks": 1}
    lines = report.quality_latency_table(document)
    start = lines.index("The same points on stereo-set (1 items):")
    assert "| centre_cancel | 0.0 ms | -3.04 | -0.13 |" in lines[start:]
    assert "| centre_cancel |  |  |  | 0.0 ms | n/a | n/a |  |" in lines[:start]
    for point in document["points"][first].values():
        point.pop("reused_from", None)
    assert not any(line.startswith("Re-used") for line in report.quality_latency_table(document))
    document["points"][first]["mixture"]["reused_from"] = {
        "date_utc": "2026-01-02 03:04",
        "git_commit": "abc1234",
    }
    assert report.quality_latency_table(document)[-1] == (
        "Re-used unchanged (same checkpoint file, same material), not re-measured: mixture from "
        "the run of 2026-01-02 03:04 UTC (commit abc1234)."
    )
    require_module("matplotlib")
    from unsing.benchmarks import quality_latency

    one = copy.deepcopy(document)
    del one["points"]["stereo-set"]
    sizes = [
        quality_latency.plot(d, tmp_path / f"{i}.png").stat().st_size
        for i, d in enumerate([one, document])
    ]
    assert sizes[1] > 1.5 * sizes[0]  # a second row of panels
