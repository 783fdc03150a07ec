"""The README: short, the two set-up commands on its first screen, a generated summary."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
README = PROJECT_ROOT / "README.md"

#: The README's size limit: what unsing does, set-up, usage, engine, MIDI, latency, a summary
#: and links; everything else lives in docs/.
MAX_README_BYTES = 15 * 1024
SETUP_COMMANDS = ("bash scripts/run.sh", "bash scripts/test.sh")


def test_readme_has_the_two_setup_commands_and_ci_runs_the_test_command() -> None:
    readme = README.read_text(encoding="utf-8")
    assert all(command in readme for command in SETUP_COMMANDS)
    assert "bash scripts/test.sh" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_the_setup_commands_are_on_the_first_screen() -> None:
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:40])
    for command in SETUP_COMMANDS:
        assert command in first_screen, f"{command!r} is not within the README's first 40 lines"


def test_readme_is_at_most_15_kb() -> None:
    size = README.stat().st_size
    assert size <= MAX_README_BYTES, (
        f"README.md is {size} bytes, over {MAX_README_BYTES}: move detail to docs/"
    )


def test_readme_summary_is_generated_from_the_committed_results() -> None:
    """The README's quality and performance summary equals what the report renders from the
    committed JSON under benchmarks/results/."""
    import re

    from unsing.benchmarks import report

    readme = README.read_text(encoding="utf-8")
    pattern = re.escape(report.SUMMARY_START) + r"\n(.*?)\n" + re.escape(report.SUMMARY_END)
    match = re.search(pattern, readme, re.S)
    assert match, "README has no generated summary"
    assert match.group(1) == report.summary_block(report.RESULTS), (
        "README summary is stale: run python -m unsing.benchmarks.report --summary README.md"
    )


def test_the_report_rewrites_only_the_summary_block(tmp_path: Path) -> None:
    from unsing.benchmarks import report

    readme = tmp_path / "README.md"
    readme.write_text(
        f"# title\n\n{report.SUMMARY_START}\nold\n{report.SUMMARY_END}\n\ntail\n", encoding="utf-8"
    )
    assert report.main(["--no-plots", "--summary", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# title\n\n") and text.endswith("\n\ntail\n") and "old" not in text
    assert f"{report.SUMMARY_START}\n{report.summary_block(report.RESULTS)}\n" in text
