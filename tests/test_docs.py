"""docs/: the key references match the shipped YAML files, the generated tables match the
committed results, and every relative link in the README and docs/ resolves."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCS = PROJECT_ROOT / "docs"
RESULTS = PROJECT_ROOT / "benchmarks" / "results"

#: A reference table row: ``| `section.key` | default | ...``.
_ROW = re.compile(r"^\| `([a-z_]+\.[a-z0-9_]+)` \| ([^|]*) \|", re.MULTILINE)


def documented_defaults(doc: Path) -> dict[str, str]:
    """``{"section.key": default cell}`` from the reference table(s) of ``doc``."""
    return {key: default.strip() for key, default in _ROW.findall(doc.read_text("utf-8"))}


def yaml_keys(raw: Mapping[str, Any], sections: tuple[str, ...] | None = None) -> Iterator:
    """``("section.key", value)`` for every key of the raw YAML's sections (all, or
    ``sections``), in file order."""
    for section, keys in raw.items():
        if sections is None or section in sections:
            for key, value in keys.items():
                yield f"{section}.{key}", value


def reference_problems(
    table: Mapping[str, str], raw: Mapping[str, Any], sections: tuple[str, ...] | None = None
) -> list[str]:
    """What is wrong between a documented key table and a YAML file: keys missing from the
    table, defaults that differ from the shipped value, and documented keys the file lacks.
    Lists of mappings (``midi.mappings``) are described in prose: only the key is checked."""
    problems = []
    shipped = dict(yaml_keys(raw, sections))
    for key, value in shipped.items():
        if key not in table:
            problems.append(f"{key}: not documented")
            continue
        documented = table[key]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            continue
        if value is None:
            expected_ok = documented == "null"
        elif isinstance(value, bool):  # true / false (YAML) or True / False (Python)
            expected_ok = documented.lower() == str(value).lower()
        elif not isinstance(value, int | float):
            expected_ok = documented == (str(value) if value != "" else '""')
        else:
            try:
                expected_ok = float(documented) == float(value)
            except ValueError:
                expected_ok = False
        if not expected_ok:
            problems.append(f"{key}: documented default {documented!r}, shipped {value!r}")
    problems += [f"{key}: documented but not in the file" for key in table if key not in shipped]
    return problems


def test_every_config_key_is_documented_with_its_shipped_default() -> None:
    """docs/configuration.md's key table equals config.yaml's keys and defaults, read from the
    raw YAML (independent of the config code)."""
    raw = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text("utf-8"))
    table = documented_defaults(DOCS / "configuration.md")
    assert not reference_problems(table, raw), "docs/configuration.md: " + "; ".join(
        reference_problems(table, raw)
    )


def test_every_recipe_key_is_documented_with_its_default() -> None:
    """docs/training.md's recipe key table equals the model, train and long_band sections of
    the shipped model's recipe."""
    raw = yaml.safe_load((PROJECT_ROOT / "models" / "recipes" / "default.yaml").read_text("utf-8"))
    table = documented_defaults(DOCS / "training.md")
    problems = reference_problems(table, raw, sections=("model", "train", "long_band"))
    assert not problems, "docs/training.md: " + "; ".join(problems)


def test_the_reference_check_catches_each_kind_of_mistake() -> None:
    raw = {"audio": {"a": 1, "b": None, "c": "x"}, "midi": {"m": [{"cc": 1}]}}
    good = {"audio.a": "1.0", "audio.b": "null", "audio.c": "x", "midi.m": "prose"}
    assert reference_problems(good, raw) == []
    assert reference_problems({**good, "audio.a": "2"}, raw) == [
        "audio.a: documented default '2', shipped 1"
    ]
    assert reference_problems({**good, "stft.n_fft": "1024"}, raw) == [
        "stft.n_fft: documented but not in the file"
    ]
    missing = dict(good)
    del missing["audio.c"]
    assert reference_problems(missing, raw) == ["audio.c: not documented"]


def _doc_block(doc: Path, start: str, end: str) -> str:
    from unsing.models.quality import readme_block

    return readme_block(doc, start, end)


def test_quality_table_is_the_measured_one() -> None:
    """docs/quality.md's BSS Eval table is generated from benchmarks/results/quality*.json."""
    from unsing.models.quality import README_END, README_START, render_markdown

    documents = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("quality*.json"))]
    reports = [d for d in documents if "metadata" in d and "results" in d]  # quality reports
    assert reports, "no measured quality results committed"
    tables = [render_markdown(report).strip() for report in reports]
    assert _doc_block(DOCS / "quality.md", README_START, README_END) in tables


def test_band_and_single_source_tables_are_the_measured_ones() -> None:
    """docs/quality.md's per-band and one-source-alone tables are generated from their JSON."""
    from unsing.models import band_quality, single_source

    doc = DOCS / "quality.md"
    band = json.loads((RESULTS / "band_quality.json").read_text())
    assert (
        _doc_block(doc, band_quality.README_START, band_quality.README_END)
        == band_quality.render_summary(band).strip()
    )
    single = json.loads((RESULTS / "single_source.json").read_text())
    assert (
        _doc_block(doc, single_source.README_START, single_source.README_END)
        == single_source.render_markdown(single).strip()
    )


# ------------------------------------------------------------------------------------------
# Links

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)


def _markdown_files() -> list[Path]:
    return [PROJECT_ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def _links(path: Path) -> list[str]:
    text = _CODE.sub("", _FENCE.sub("", path.read_text("utf-8")))
    return _LINK.findall(text)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces -> hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text("utf-8"))
    return {anchor(heading) for heading in _HEADING.findall(text)}


def link_problems(path: Path) -> list[str]:
    """Relative links of ``path`` whose file (or heading anchor in a Markdown file) does not
    exist. Links into docs/experiments/ are checked only where that folder exists."""
    problems = []
    for target in _links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        experiments = DOCS / "experiments"
        if resolved.is_relative_to(experiments) and not experiments.is_dir():
            continue
        if not resolved.exists():
            problems.append(f"{path.relative_to(PROJECT_ROOT)}: {target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in _anchors(resolved):
            problems.append(f"{path.relative_to(PROJECT_ROOT)}: {target}: no such heading")
    return problems


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    problems = [problem for path in _markdown_files() for problem in link_problems(path)]
    assert not problems, "\n".join(problems)


def test_the_link_check_sees_links_outside_code_only(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    (tmp_path / "there.md").write_text("# A heading: with `code`\n")
    doc.write_text(
        "[ok](there.md) [ok](there.md#a-heading-with-code) ![img](there.md) <https://x.org>\n"
        "[bad](missing.md) [bad](there.md#nowhere) `[not](a-link.md)`\n"
        "```\n[not](in-a-fence.md)\n```\n"
    )
    assert _links(doc) == [
        "there.md",
        "there.md#a-heading-with-code",
        "there.md",
        "missing.md",
        "there.md#nowhere",
    ]
    assert anchor("One source alone: instrumental breaks") == "one-source-alone-instrumental-breaks"
    assert anchor("A heading: with `code`") == "a-heading-with-code"
