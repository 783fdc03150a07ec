"""Instrumentals must come through untouched, a cappella singing must go: one source at a time.

``python -m unsing.models.single_source --out benchmarks/results/single_source.json``

A karaoke host hears the accompaniment estimate (vocal gain 0). During an instrumental break it
should be the music itself; during an a cappella line it should be silence. Training shows the
model instrumental-only examples for the first reason, and the BSS Eval table cannot tell
whether that worked: every item there has both sources. This report feeds each held-out
validation track's stems alone (the MIR-1K held-out singers' accompaniment and voice channels,
the everything-is-free track ``sodium``'s stems, the MUSDB18 sample's, the iKala clip's), as
the live engine would meet them, and measures per item:

* ``kept_sdr_db``: SDR of the stem that should keep the input (accompaniment for an
  instrumental, vocals for a cappella) against the input, ``10 log10(sum x^2 / sum (x - kept)^2)``
  over the whole item, all channels: how unchanged it comes through (higher is better);
* ``removed_level_db``: energy of the other stem relative to the input's,
  ``10 log10(sum removed^2 / sum x^2)``: how much of it leaks to the wrong output (lower is
  better; for an a cappella input, the voice left in the karaoke track);
* ``worst_second_kept_sdr_db``: the 10th percentile of ``kept_sdr_db`` over the item's 1 s
  windows (windows 40 dB below the item's mean power are skipped): the bad seconds.

A set's numbers are medians over its items. ``mixture`` (no separation: both outputs are the
input) is the reference, and ``centre_cancel`` (the classic karaoke button) the baseline: on a
mono input it takes everything out of the karaoke track.
"""

from __future__ import annotations

import datetime
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unsing.models.baselines import OracleSeparator
from unsing.models.quality import (
    SAMPLE_RATE_HZ,
    VALIDATION_SETS,
    _git_commit,
    _median,
    build_separators,
    comma_list,
    default_data_root,
    json_number,
    measured_line,
    report_parser,
    table_cell,
    validation_set_names,
    write_report,
)

#: What each input is, and which output stem should keep it: (name, stem fed, index kept).
INPUTS: tuple[tuple[str, str, int], ...] = (
    ("instrumental", "accompaniment", 1),
    ("a_cappella", "vocals", 0),
)
METRICS = ("kept_sdr_db", "removed_level_db", "worst_second_kept_sdr_db")
DEFAULT_METHODS = ("mixture", "centre_cancel", "spleeter")
#: Windows of the per-second score and the power below the item's mean that is skipped.
WINDOW_S = 1.0
SILENT_WINDOW_DB = -40.0
WORST_PERCENTILE = 10.0


def _ratio_db(numerator: float, denominator: float) -> float:
    if denominator <= 0.0:
        return math.inf if numerator > 0.0 else math.nan
    if numerator <= 0.0:
        return -math.inf
    return 10.0 * math.log10(numerator / denominator)


def _window_energies(signal: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Energy of ``signal`` ``(channels, samples)`` in each whole :data:`WINDOW_S` window
    (a last partial window dropped; a signal shorter than one window is one window)."""
    window = max(1, round(WINDOW_S * sample_rate_hz))
    count = max(1, signal.shape[-1] // window)
    return np.array([np.sum(signal[:, i * window : (i + 1) * window] ** 2) for i in range(count)])


def single_source_scores(
    source: np.ndarray,
    kept: np.ndarray,
    removed: np.ndarray,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
) -> dict[str, float]:
    """Scores of one item (see the module docstring); all arrays ``(channels, samples)``.

    ``source`` is the input (one source alone), ``kept`` the output stem that should equal it,
    ``removed`` the one that should be silent."""
    source = np.asarray(source, np.float64)
    error = source - np.asarray(kept, np.float64)
    removed = np.asarray(removed, np.float64)
    source_energy = float(np.sum(source**2))
    source_windows = _window_energies(source, sample_rate_hz)
    error_windows = _window_energies(error, sample_rate_hz)
    loud = source_windows > source_windows.mean() * 10.0 ** (SILENT_WINDOW_DB / 10.0)
    per_second = [
        _ratio_db(s, e) for s, e in zip(source_windows[loud], error_windows[loud], strict=True)
    ]
    # nearest rank, no interpolation: exact (infinite) seconds stay infinite
    worst = (
        float(np.percentile(per_second, WORST_PERCENTILE, method="lower"))
        if per_second
        else math.nan
    )
    return {
        "kept_sdr_db": _ratio_db(source_energy, float(np.sum(error**2))),
        "removed_level_db": _ratio_db(float(np.sum(removed**2)), source_energy),
        "worst_second_kept_sdr_db": worst,
    }


def single_source_report(
    separators: Mapping[str, Any],
    data_root: Path | str | None = None,
    sets: Sequence[str] | None = None,
    max_items_per_set: int | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Score every separator on every held-out stem alone.

    Returns JSON-able ``{"metadata", "sets": {set: {"items": n, "duration_s": s}}, "results":
    {set: {input: {method: {metric: dB}}}}, "per_item": {set: {item: {input: {method:
    {metric: dB}}}}}}`` with ``input`` in ``instrumental`` / ``a_cappella``."""
    root = Path(data_root) if data_root is not None else default_data_root()
    set_names = validation_set_names(sets)
    oracles = [
        name for name, separator in separators.items() if isinstance(separator, OracleSeparator)
    ]
    if oracles:
        raise ValueError(
            f"{oracles}: an oracle needs both sources; score it with the quality report"
        )
    results: dict[str, Any] = {}
    per_item: dict[str, Any] = {}
    set_info: dict[str, Any] = {}
    for set_name in set_names:
        raw: dict[str, dict[str, list[dict[str, float]]]] = {
            name: {method: [] for method in separators} for name, _, _ in INPUTS
        }
        per_item[set_name] = {}
        duration_s = 0.0
        seconds = dict.fromkeys(separators, 0.0)
        for item in VALIDATION_SETS[set_name].load(root, max_items_per_set):
            duration_s += item.duration_s
            per_item[set_name][item.name] = {}
            for input_name, stem, kept_index in INPUTS:
                source = item.vocals if stem == "vocals" else item.accompaniment
                per_item[set_name][item.name][input_name] = {}
                for method, separator in separators.items():
                    start = time.perf_counter()
                    estimates = separator(source, SAMPLE_RATE_HZ)
                    seconds[method] += time.perf_counter() - start
                    scores = single_source_scores(
                        source, estimates[kept_index], estimates[1 - kept_index]
                    )
                    raw[input_name][method].append(scores)
                    per_item[set_name][item.name][input_name][method] = {
                        k: json_number(v, 2) for k, v in scores.items()
                    }
                    if progress is not None:
                        progress(
                            f"{set_name} {item.name} {input_name} {method}: kept SDR "
                            f"{scores['kept_sdr_db']:.2f} dB, removed "
                            f"{scores['removed_level_db']:.2f} dB"
                        )
        set_info[set_name] = {
            "items": len(per_item[set_name]),
            "duration_s": round(duration_s, 2),
            "separation_s": {m: round(s, 2) for m, s in seconds.items()},
        }
        results[set_name] = {
            input_name: {
                method: {
                    metric: json_number(_median([s[metric] for s in raw[input_name][method]]), 2)
                    for metric in METRICS
                }
                for method in separators
            }
            for input_name, _, _ in INPUTS
        }
    return {
        "metadata": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "git_commit": _git_commit(),
            "sample_rate_hz": SAMPLE_RATE_HZ,
            "data_root": str(root),
            "max_items_per_set": max_items_per_set,
        },
        "sets": set_info,
        "results": results,
        "per_item": per_item,
    }


def render_markdown(report: Mapping[str, Any]) -> str:
    """The set-level medians as one Markdown table."""
    lines = [
        "| set | input | method | kept SDR | removed level | worst second's kept SDR |",
        "|---|---|---|---:|---:|---:|",
    ]
    for set_name, inputs in report["results"].items():
        info = report["sets"][set_name]
        label = f"{set_name} ({info['items']} items, {info['duration_s']:.0f} s)"
        for input_name, methods in inputs.items():
            for method, scores in methods.items():
                cells = " | ".join(table_cell(scores[metric]) for metric in METRICS)
                lines.append(f"| {label} | {input_name} | {method} | {cells} |")
    metadata = report["metadata"]
    lines += [
        "",
        "dB, medians over items. instrumental: the accompaniment stem alone as the input, kept = "
        "the accompaniment output; a_cappella: the vocal stem alone, kept = the vocals output. "
        "kept SDR: higher is better; removed level: the other output's energy relative to the "
        "input, lower is better; worst second: 10th percentile over 1 s windows. "
        + measured_line(metadata),
    ]
    return "\n".join(lines) + "\n"


#: The markers of the generated table in docs/quality.md (``--doc``).
README_START = "<!-- single-source:start (generated by python -m unsing.models.single_source) -->"
README_END = "<!-- single-source:end -->"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: score each stem alone, write JSON and Markdown."""
    parser = report_parser(
        "python -m unsing.models.single_source",
        __doc__.splitlines()[0],
        ",".join(DEFAULT_METHODS),
        ",".join(VALIDATION_SETS),
    )
    parser.add_argument("--max-items", type=int, default=None, help="at most N items per set")
    args = parser.parse_args(argv)
    methods, sets = comma_list(args.methods), comma_list(args.sets)
    try:
        separators = build_separators(methods, args.checkpoint, engines=args.engine)
        report = single_source_report(
            separators,
            data_root=args.data_root,
            sets=sets,
            max_items_per_set=args.max_items,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except (ValueError, ImportError, FileNotFoundError) as error:
        print(f"single_source: error: {error}", file=sys.stderr)
        return 2
    markers = (README_START, README_END)
    write_report(args.out, report, render_markdown(report), args.doc, markers=markers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
