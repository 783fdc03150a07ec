"""The README's configuration reference documents every key with the shipped default."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from unsing.config import load_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def readme_table() -> dict[str, str]:
    """``{"section.key": default cell}`` from the README's configuration table."""
    rows = re.findall(
        r"^\| `([a-z_]+\.[a-z0-9_]+)` \| ([^|]*) \|",
        (PROJECT_ROOT / "README.md").read_text(),
        flags=re.MULTILINE,
    )
    return {key: default.strip() for key, default in rows}


def test_every_config_key_is_documented_with_its_default() -> None:
    table = readme_table()
    raw = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    config = load_config()
    for section in ("audio", "stft", "model", "engine", "midi", "train"):
        for field in dataclasses.fields(getattr(config, section)):
            key = f"{section}.{field.name}"
            assert key in table, f"README does not document {key}"
            shipped = raw[section][field.name]
            if isinstance(shipped, list):
                if shipped and not isinstance(shipped[0], dict):
                    assert table[key] == str(shipped), key
                continue  # the mappings are described in prose
            documented = table[key]
            if shipped is None:
                assert documented == "null", key
            elif isinstance(shipped, bool) or not isinstance(shipped, int | float):
                assert documented == (str(shipped) if shipped != "" else '""'), key
            else:
                assert float(documented) == float(shipped), key
    assert set(table) <= {
        f"{s}.{f.name}"
        for s in ("audio", "stft", "model", "engine", "midi", "train")
        for f in dataclasses.fields(getattr(config, s))
    }


def test_readme_has_the_two_setup_commands_and_ci_runs_the_test_command() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "bash scripts/run.sh" in readme and "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_readme_quality_table_is_the_measured_one() -> None:
    """The README's quality table is generated from benchmarks/results/quality*.json."""
    import json

    from unsing.models.quality import readme_block, render_markdown

    documents = [
        json.loads(p.read_text())
        for p in sorted((PROJECT_ROOT / "benchmarks" / "results").glob("quality*.json"))
    ]
    reports = [d for d in documents if "metadata" in d and "results" in d]  # quality reports
    assert reports, "no measured quality results committed"
    tables = [render_markdown(report).strip() for report in reports]
    assert readme_block(PROJECT_ROOT / "README.md") in tables


def test_readme_band_and_single_source_tables_are_the_measured_ones() -> None:
    """The per-band and one-source-alone tables are generated from their results JSON."""
    import json

    from unsing.models import band_quality, single_source
    from unsing.models.quality import readme_block

    results = PROJECT_ROOT / "benchmarks" / "results"
    readme = PROJECT_ROOT / "README.md"
    band = json.loads((results / "band_quality.json").read_text())
    assert (
        readme_block(readme, band_quality.README_START, band_quality.README_END)
        == band_quality.render_summary(band).strip()
    )
    single = json.loads((results / "single_source.json").read_text())
    assert (
        readme_block(readme, single_source.README_START, single_source.README_END)
        == single_source.render_markdown(single).strip()
    )
