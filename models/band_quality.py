"""Separation quality per frequency band: does the model handle 8-22 kHz (sibilants, cymbals)?

``python -m unsing.models.band_quality --out benchmarks/results/band_quality.json``

MIR-1K is 16 kHz material: nothing above 8 kHz. The model's top octave is learnt from the
full-band sources only (everything-is-free, the solo singing, the instrumentals), so the BSS
Eval table, dominated by the energy below 4 kHz, cannot tell whether that worked. This report
scores each band on its own, on the full-band held-out sets (the everything-is-free track
``sodium``, the MUSDB18 sample).

The metric is the signal-to-distortion ratio restricted to a band,

    SDR_band = 10 log10( sum_{k in band} |S_k|^2 / sum_{k in band} |S_k - Ŝ_k|^2 )

with ``S`` and ``Ŝ`` the DFTs of the whole track's reference and estimate (all channels
summed). By Parseval it is the plain SDR (SiSEC 2021 / MDX "global" SDR: no distortion filter,
no windows) of the two signals through an ideal band-pass filter, and the band "all" is exactly
the time-domain global SDR. With the mixture as the estimate it is the band's own
vocal-to-accompaniment ratio (or its negative): the number any separator has to improve on.
Each band's share of a stem's energy is reported beside it, so that a score on a nearly empty
band is read as such.
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
import scipy.fft

from unsing.models.quality import (
    SAMPLE_RATE_HZ,
    STEMS,
    VALIDATION_SETS,
    _git_commit,
    _separate,
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

#: Bands in Hz: ``(name, low, high)``, ``low <= f < high`` (the top band includes Nyquist).
DEFAULT_BANDS_HZ: tuple[tuple[str, float, float], ...] = (
    ("0-1 kHz", 0.0, 1000.0),
    ("1-4 kHz", 1000.0, 4000.0),
    ("4-8 kHz", 4000.0, 8000.0),
    ("8-12 kHz", 8000.0, 12000.0),
    ("12-16 kHz", 12000.0, 16000.0),
    ("16-22 kHz", 16000.0, math.inf),
    ("8-22 kHz", 8000.0, math.inf),
    ("all", 0.0, math.inf),
)
#: The full-band held-out sets (MIR-1K: 16 kHz; iKala: 2 s).
DEFAULT_SETS = ("eif-sodium", "musdb18-sample")
DEFAULT_METHODS = ("mixture", "oracle_irm", "spleeter")


def band_energies(
    signal: np.ndarray, sample_rate_hz: int, bands_hz: Sequence[tuple[str, float, float]]
) -> np.ndarray:
    """Energy of ``signal`` ``(channels, samples)`` in each band, summed over channels.

    Returns ``(len(bands_hz),)`` float64: ``sum_k weight_k |X_k|^2 / samples`` over the band's
    one-sided DFT bins, the weights (1 for DC and Nyquist, 2 elsewhere) making the bands of a
    partition sum to ``sum(signal**2)`` (Parseval)."""
    signal = np.atleast_2d(np.asarray(signal))
    num_samples = signal.shape[-1]
    spectrum = scipy.fft.rfft(signal.astype(np.float64, copy=False), axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2).sum(axis=0)
    weights = np.full(power.shape, 2.0)
    weights[0] = 1.0
    if num_samples % 2 == 0:
        weights[-1] = 1.0
    weighted = power * weights / num_samples
    frequencies_hz = np.arange(power.size) * sample_rate_hz / num_samples
    energies = np.empty(len(bands_hz))
    for index, (_, low_hz, high_hz) in enumerate(bands_hz):
        in_band = (frequencies_hz >= low_hz) & (frequencies_hz < high_hz)
        energies[index] = weighted[in_band].sum()
    return energies


def band_sdr_db(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate_hz: int,
    bands_hz: Sequence[tuple[str, float, float]] = DEFAULT_BANDS_HZ,
) -> np.ndarray:
    """Global SDR of ``estimate`` against ``reference`` (both ``(channels, samples)``) per band.

    Returns ``(len(bands_hz),)`` dB: +inf for an exact band, NaN for a band where the
    reference has no energy."""
    signal = band_energies(reference, sample_rate_hz, bands_hz)
    return _band_sdr_db(signal, reference, estimate, sample_rate_hz, bands_hz)


def _band_sdr_db(
    signal: np.ndarray,
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate_hz: int,
    bands_hz: Sequence[tuple[str, float, float]],
) -> np.ndarray:
    """:func:`band_sdr_db` with the reference's band energies ``signal`` already computed."""
    if reference.shape != estimate.shape:
        raise ValueError(f"reference {reference.shape} and estimate {estimate.shape} differ")
    error = band_energies(
        np.asarray(reference, np.float64) - np.asarray(estimate, np.float64),
        sample_rate_hz,
        bands_hz,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        sdr = 10.0 * np.log10(signal / error)
    sdr[signal <= 0.0] = math.nan
    return sdr


def band_report(
    separators: Mapping[str, Any],
    data_root: Path | str | None = None,
    sets: Sequence[str] = DEFAULT_SETS,
    bands_hz: Sequence[tuple[str, float, float]] = DEFAULT_BANDS_HZ,
    progress: Any = None,
) -> dict[str, Any]:
    """Score every separator per band on every item of ``sets``.

    Returns JSON-able ``{"metadata", "bands": [[name, low_hz, high_hz]], "sets": {set: {track:
    {"energy_share_db": {stem: {band: dB}}, "sdr_db": {method: {stem: {band: dB}}},
    "separation_s": {method: s}}}}}``; a band's energy share is its energy relative to the
    stem's total, in dB."""
    root = Path(data_root) if data_root is not None else default_data_root()
    sets = validation_set_names(sets)
    names = [name for name, _, _ in bands_hz]
    report_sets: dict[str, Any] = {}
    for set_name in sets:
        report_sets[set_name] = {}
        for track in VALIDATION_SETS[set_name].load(root, None):
            references = {"vocals": track.vocals, "accompaniment": track.accompaniment}
            shares = {}
            energies_by_stem = {}
            for stem, reference in references.items():
                energies = band_energies(reference, SAMPLE_RATE_HZ, bands_hz)
                energies_by_stem[stem] = energies
                total = float(np.sum(np.square(reference, dtype=np.float64)))  # Parseval
                with np.errstate(divide="ignore", invalid="ignore"):
                    share_db = 10.0 * np.log10(energies / total)
                shares[stem] = {n: json_number(v, 2) for n, v in zip(names, share_db, strict=True)}
            scores: dict[str, Any] = {}
            seconds: dict[str, float] = {}
            for method, separator in separators.items():
                start = time.perf_counter()
                estimates = dict(zip(STEMS, _separate(separator, track), strict=True))
                seconds[method] = round(time.perf_counter() - start, 2)
                scores[method] = {}
                for stem in STEMS:
                    sdr = _band_sdr_db(
                        energies_by_stem[stem],
                        references[stem],
                        estimates[stem],
                        SAMPLE_RATE_HZ,
                        bands_hz,
                    )
                    scores[method][stem] = {
                        n: json_number(v, 2) for n, v in zip(names, sdr, strict=True)
                    }
                if progress is not None:
                    high = scores[method]["vocals"].get("8-22 kHz")
                    progress(f"{set_name} {track.name} {method}: vocals SDR 8-22 kHz {high} dB")
            report_sets[set_name][track.name] = {
                "duration_s": round(track.duration_s, 2),
                "energy_share_db": shares,
                "sdr_db": scores,
                "separation_s": seconds,
            }
    return {
        "metadata": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "git_commit": _git_commit(),
            "sample_rate_hz": SAMPLE_RATE_HZ,
            "data_root": str(root),
            "metric": "global SDR per band (ideal band-pass via the whole track's DFT, channels "
            "summed, no windows, no distortion filter); dB, higher is better",
        },
        "bands": [[n, low, None if math.isinf(high) else high] for n, low, high in bands_hz],
        "sets": report_sets,
    }


def render_markdown(report: Mapping[str, Any]) -> str:
    """One table per track and stem: rows = methods (plus the energy share), columns = bands."""
    names = [band[0] for band in report["bands"]]
    lines: list[str] = []
    for set_name, tracks in report["sets"].items():
        for track_name, track in tracks.items():
            for stem in STEMS:
                lines += [
                    f"**{set_name} / {track_name} ({track['duration_s']:.0f} s), {stem}**",
                    "",
                    "| | " + " | ".join(names) + " |",
                    "|---|" + "---:|" * len(names),
                    "| energy share (dB) | "
                    + " | ".join(table_cell(track["energy_share_db"][stem][n]) for n in names)
                    + " |",
                ]
                for method, scores in track["sdr_db"].items():
                    cells = " | ".join(table_cell(scores[stem][n]) for n in names)
                    lines.append(f"| {method} SDR | {cells} |")
                lines.append("")
    metadata = report["metadata"]
    lines.append(f"{metadata['metric']}. {measured_line(metadata)}")
    return "\n".join(lines) + "\n"


#: The bands of the summary table in docs/quality.md.
SUMMARY_BANDS = ("4-8 kHz", "8-12 kHz", "12-16 kHz", "16-22 kHz", "8-22 kHz", "all")


def render_summary(report: Mapping[str, Any], bands: Sequence[str] = SUMMARY_BANDS) -> str:
    """One table for all tracks: rows = track, stem and method (first the energy share)."""
    bands = [name for name in bands if name in [band[0] for band in report["bands"]]]
    lines = [
        "| track | stem | | " + " | ".join(bands) + " |",
        "|---|---|---|" + "---:|" * len(bands),
    ]
    for set_name, tracks in report["sets"].items():
        for track_name, track in tracks.items():
            label = f"{set_name} / {track_name}"
            for stem in STEMS:
                shares = " | ".join(table_cell(track["energy_share_db"][stem][n]) for n in bands)
                lines.append(f"| {label} | {stem} | energy share (dB) | {shares} |")
                for method, scores in track["sdr_db"].items():
                    cells = " | ".join(table_cell(scores[stem][n]) for n in bands)
                    lines.append(f"| {label} | {stem} | {method} SDR | {cells} |")
    metadata = report["metadata"]
    lines += [
        "",
        f"{metadata['metric']}; energy share: the band's share of the stem's energy. "
        + measured_line(metadata),
    ]
    return "\n".join(lines) + "\n"


#: The markers of the generated table in docs/quality.md (``--doc``).
README_START = "<!-- band-quality:start (generated by python -m unsing.models.band_quality) -->"
README_END = "<!-- band-quality:end -->"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: score per band, write JSON and Markdown."""
    parser = report_parser(
        "python -m unsing.models.band_quality",
        __doc__.splitlines()[0],
        ",".join(DEFAULT_METHODS),
        ",".join(DEFAULT_SETS),
    )
    args = parser.parse_args(argv)
    methods, sets = comma_list(args.methods), comma_list(args.sets)
    try:
        separators = build_separators(methods, args.checkpoint, engines=args.engine)
        report = band_report(
            separators,
            data_root=args.data_root,
            sets=sets,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except (ValueError, ImportError, FileNotFoundError) as error:
        print(f"band_quality: error: {error}", file=sys.stderr)
        return 2
    markers = (README_START, README_END)
    summary = render_summary(report)
    write_report(args.out, report, render_markdown(report), args.doc, summary, markers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
