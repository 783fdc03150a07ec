"""Does a retrained model reproduce a reference's quality? Compare one method's SDR in two
quality reports (``python -m unsing.models.quality`` JSON), set by set.

    python -m unsing.models.compare_quality NEW.json:retrained \\
        benchmarks/results/quality.json:unsing-causal --tolerance-db 0.5

Exit status 0 when every vocals and accompaniment SDR of the sets both reports scored is within
the tolerance, 1 otherwise (the table says which), 2 when a report cannot be read. A second
table splits MIR-1K by held-out singer (median over each singer's clips, from the reports'
``per_track``): one singer can gain while the other loses. It informs and does not vote.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from unsing.models.data import mir1k_singer


def _report(spec: str) -> tuple[str, dict[str, Any], dict[str, dict[str, Any]]]:
    """``REPORT.json:METHOD`` -> the method, the whole report and the method's scores per set
    (ValueError: one line why not)."""
    path, _, method = spec.rpartition(":")
    if not path or not method:
        raise ValueError(f"{spec!r}: expected REPORT.json:METHOD")
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        results = report["results"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a readable quality report ({error})") from None
    per_set = {
        set_name: methods[method] for set_name, methods in results.items() if method in methods
    }
    if not per_set:
        raise ValueError(f"{path} has no scores for {method!r}")
    return method, report, per_set


def mir1k_by_singer(report: dict[str, Any], method: str) -> dict[str, dict[str, float]]:
    """``{singer: {stem: median SDR over the singer's clips}}`` of ``method`` from a quality
    report's MIR-1K ``per_track`` scores; {} where the report has none."""
    tracks = (report.get("per_track") or {}).get("mir1k") or {}
    values: dict[str, dict[str, list[float]]] = {}
    for clip, methods in tracks.items():
        for stem in ("vocals", "accompaniment"):
            sdr = (methods.get(method) or {}).get(stem, {}).get("SDR")
            if sdr is not None:
                singer = mir1k_singer(Path(clip))
                values.setdefault(singer, {}).setdefault(stem, []).append(sdr)
    return {
        singer: {stem: round(statistics.median(v), 3) for stem, v in stems.items()}
        for singer, stems in sorted(values.items())
    }


def compare(
    new: dict[str, dict[str, Any]], reference: dict[str, dict[str, Any]], tolerance_db: float
) -> tuple[list[dict[str, Any]], bool]:
    """Rows ``{set, stem, new, reference, difference}`` for the sets both scored, and whether all
    differences are within ``tolerance_db`` (a score missing on one side fails)."""
    rows, ok = [], True
    for set_name in sorted(set(new) & set(reference)):
        for stem in ("vocals", "accompaniment"):
            ours, theirs = new[set_name][stem]["SDR"], reference[set_name][stem]["SDR"]
            difference = None if ours is None or theirs is None else ours - theirs
            ok &= difference is not None and abs(difference) <= tolerance_db
            rows.append(
                {
                    "set": set_name,
                    "stem": stem,
                    "new": ours,
                    "reference": theirs,
                    "difference": difference,
                }
            )
    return rows, ok and bool(rows)


def main(argv: list[str] | None = None) -> int:
    """``python -m unsing.models.compare_quality NEW.json:METHOD REF.json:METHOD``."""
    parser = argparse.ArgumentParser(prog="python -m unsing.models.compare_quality")
    parser.add_argument("new", help="REPORT.json:METHOD of the model under test")
    parser.add_argument("reference", help="REPORT.json:METHOD to reproduce")
    parser.add_argument("--tolerance-db", type=float, default=0.5)
    args = parser.parse_args(argv)
    try:
        new_name, new_report, new = _report(args.new)
        reference_name, reference_report, reference = _report(args.reference)
    except ValueError as error:
        print(f"compare_quality: error: {error}", file=sys.stderr)
        return 2
    rows, ok = compare(new, reference, args.tolerance_db)
    print(f"| set | stem | {new_name} SDR | {reference_name} SDR | difference |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        difference = "n/a" if row["difference"] is None else f"{row['difference']:+.2f}"
        cells = (row["set"], row["stem"], row["new"], row["reference"], difference)
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    new_singers = mir1k_by_singer(new_report, new_name)
    reference_singers = mir1k_by_singer(reference_report, reference_name)
    singers = [name for name in new_singers if name in reference_singers]
    if singers:
        print()
        print(f"| MIR-1K singer | stem | {new_name} SDR | {reference_name} SDR | difference |")
        print("|---|---|---:|---:|---:|")
        for singer in singers:
            for stem in ("vocals", "accompaniment"):
                ours = new_singers[singer].get(stem)
                theirs = reference_singers[singer].get(stem)
                if ours is None or theirs is None:
                    continue
                print(f"| {singer} | {stem} | {ours} | {theirs} | {ours - theirs:+.2f} |")
    verdict = "within" if ok else "NOT within"
    print(f"compare_quality: {verdict} {args.tolerance_db} dB of {reference_name}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
