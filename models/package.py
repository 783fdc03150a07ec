"""Turn a training run into the shipped model: ``python -m unsing.models.package RUN_DIR``.

Writes into ``models/pretrained/`` (or ``--out``):

* ``unsing-default.pt``: the best checkpoint's weights, architecture, contract, seed, git commit
  and manifest summary (no optimizer state: a few MB);
* ``train_log.jsonl`` and ``manifest.json``: the run's log and data manifest, as written;
* ``MODEL_CARD.md``: generated from those files (data and licences, validation numbers,
  latency); never edited by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from unsing import PROJECT_ROOT
from unsing.models.atomic_save import save_atomically
from unsing.models.data import mir1k_singer

DEFAULT_OUT = (PROJECT_ROOT or Path.cwd()) / "models" / "pretrained"
MODEL_NAME = "unsing-default"


def package(
    run_dir: Path,
    out_dir: Path,
    checkpoint: str = "best.pt",
    quality_json: Path | None = None,
    name: str = MODEL_NAME,
    reproduce: str | None = None,
) -> Path:
    """Copy a run's model, log and manifest into ``out_dir`` and write the model card
    (with the quality report's table if ``quality_json`` is given)."""
    state = torch.load(run_dir / checkpoint, map_location="cpu", weights_only=False)
    shipped = {
        key: state[key]
        for key in (
            "model_state",
            "architecture",
            "contract",
            "seed",
            "git_commit",
            "manifest_sha1",
            "manifest_summary",
            "config",
            "validation_sdr_db",
            "epoch",
            "step",
            "torch_version",
            "machine",
            "world_size",
        )
    }
    shipped["init_checkpoint"] = state.get("init_checkpoint")
    for key in ("fitted_by", "fit"):
        if key in state:
            shipped[key] = state[key]
    if state.get("calibration"):
        shipped["calibration"] = state["calibration"]
    log = training_log(run_dir, shipped["init_checkpoint"])  # before out_dir changes
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{name}.pt"
    save_atomically(shipped, weights)
    (out_dir / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    shutil.copyfile(run_dir / "manifest.json", out_dir / "manifest.json")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    quality = json.loads(quality_json.read_text()) if quality_json is not None else None
    chosen = "the best validation epoch" if checkpoint == "best.pt" else f"the run's {checkpoint}"
    others = earlier_manifests(shipped["init_checkpoint"], manifest["sha1"])
    card = model_card(shipped, log, manifest, quality, chosen, name, reproduce, others)
    (out_dir / "MODEL_CARD.md").write_text(card)
    return weights


def earlier_manifests(init: dict[str, Any] | None, shipped_sha1: str) -> list[dict[str, Any]]:
    """The data manifests of the stages a model was fine-tuned from that differ from its own
    (each once, oldest first), read from the folders of the checkpoints in ``init``'s chain."""
    found: dict[str, dict[str, Any]] = {}
    while init is not None:
        path = Path(init["path"]).parent / "manifest.json"
        if path.is_file():
            manifest = json.loads(path.read_text())
            if manifest["sha1"] != shipped_sha1:
                found.setdefault(manifest["sha1"], manifest)
        init = init.get("init_checkpoint")
    return list(reversed(found.values()))


def _tagged_records(folder: Path) -> list[dict[str, Any]]:
    """A folder's ``train_log.jsonl``, each record tagged with its ``run`` (the folder's name
    unless a packaged log already names it)."""
    return [
        {"run": folder.name, **json.loads(line)}
        for line in (folder / "train_log.jsonl").read_text().splitlines()
    ]


def training_log(run_dir: Path, init: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The run's log, preceded by the logs of the runs it was fine-tuned from (each record
    tagged with its ``run``; the earlier stage's records up to the step it handed over).

    The checkpoint fine-tuned from may be a packaged model, whose folder's log is already
    chained and tagged: it is taken as it is, each stage having counted its own steps, and only
    its last stage is cut at the step it handed over. A packaged folder whose weights have
    since been replaced (a fine-tune packaged over the model it started from) no longer holds
    that model's log: ValueError."""
    records = _tagged_records(run_dir)
    if init is None:
        return records
    parent_weights = Path(init["path"])
    parent = parent_weights.parent
    if not (parent / "train_log.jsonl").is_file():
        return records
    if (parent / "MODEL_CARD.md").is_file():  # a packaged model (see package)
        sha256 = init.get("sha256")
        if sha256 and hashlib.sha256(parent_weights.read_bytes()).hexdigest() != sha256:
            raise ValueError(
                f"{parent_weights} is no longer the checkpoint {run_dir.name} was fine-tuned "
                f"from (sha256 {sha256[:12]}): package from a copy of that folder as it was"
            )
        earlier = _tagged_records(parent)
    else:
        earlier = training_log(parent, init.get("init_checkpoint"))
    # each stage counts its own steps: cut only the stage that handed over (the last one)
    handed_over, step = earlier[-1]["run"] if earlier else None, init.get("step") or 0
    return [r for r in earlier if r["run"] != handed_over or r["step"] <= step] + records


def _stages(log: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r.get("run", "run") for r in log))


def _low_band_text(arch: dict[str, Any], train: dict[str, Any], rate: int, n_fft: int) -> str:
    """The architecture line's words for the low-band network ("" without one)."""
    bins = arch.get("low_band_bins")
    if not bins:
        return ""
    alone = " (trained alone on the frozen U-Net)" if train.get("train_only_low_band") else ""
    return (
        f"; low-band network over the lowest {arch['low_band_input_bins']} bins correcting the "
        f"mask of bins 0-{bins - 1} (0-{(bins - 0.5) * rate / n_fft:.0f} Hz), "
        f"{arch['low_band_channels']} channels, dilations {arch['low_band_dilations']}{alone}"
    )


def _long_band_text(arch: dict[str, Any], rate: int) -> str:
    """The architecture line's words for the long-window band ("" without one)."""
    samples = arch.get("long_band_analysis_samples")
    if not samples:
        return ""
    bin_hz = rate / samples
    low, high = (b * bin_hz for b in arch["long_band_crossover_bins"])
    return (
        f"; long-window band (`unsing.long_band`): a {samples}-sample asymmetric analysis "
        f"window ({bin_hz:.1f} Hz bins, the same latency), a causal temporal stack "
        f"({arch['long_band_channels']} channels, dilations {arch['long_band_dilations']}) over "
        f"the log powers of its bins 0-{arch['long_band_input_bins'] - 1} "
        f"(0-{(arch['long_band_input_bins'] - 1) * bin_hz:.0f} Hz) makes the vocal mask below "
        f"{low:.0f} Hz, crossing over to the U-Net's by {high:.0f} Hz"
    )


def _long_band_fit_line(state: dict[str, Any], train: dict[str, Any]) -> str:
    """The training section's line for a long band fitted by ``fit_long_band`` (its settings
    from the checkpoint's ``fit`` record; older records lack the later options)."""
    fit = state["fit"]
    target = {
        "irm": "ideal ratio mask",
        "psm": "phase-sensitive mask (Re(V X*) / |X|^2, so the loss is the masked vocals' "
        "error energy)",
    }.get(fit.get("target", "irm"), str(fit.get("target")))
    material = "MIR-1K training singers at 0 dB and the everything-is-free training tracks"
    if fit.get("random_mixes"):
        material += (
            f", plus {fit['random_mixes']} random mixes of {fit['random_mix_seconds']:g} s "
            "of the training pool"
        )
    reads = "; the band also reads the U-Net's mask" if fit.get("unet_input") else ""
    return (
        f"- Long band fitted alone on the model below (`python -m unsing.models.fit_long_band`): "
        f"{fit['steps']} Adam steps (one-cycle, peak learning rate {train['learning_rate']}) of "
        f"32 crops of 128 frames, power-weighted squared error against the long STFT's "
        f"{target}, {material}{reads}, validated every 1000 steps; the U-Net's weights and "
        f"calibration are unchanged."
    )


def _calibration_line(calibration: dict[str, Any]) -> str:
    """The model card's line for a calibrated checkpoint (see ``unsing.models.calibrate``)."""
    fitted = calibration["fitted_on"]
    before, after = calibration["waveform_sdr_before_db"], calibration["waveform_sdr_after_db"]
    material = []
    for name, items in fitted.items():
        if name == "mir1k":
            singers = len({mir1k_singer(Path(item)) for item in items})
            material.append(f"{len(items)} MIR-1K clips of {singers} training singers at 0 dB")
        else:
            material.append(f"{name} training tracks {', '.join(items)}")
    return (
        "- Mask calibrated after training (`python -m unsing.models.calibrate`): "
        f"mask' = sigmoid({calibration['slope']:g} * logit(mask) {calibration['bias']:+g}), "
        "folded exactly into the 1x1 output convolution. Fitted on training material only ("
        + "; ".join(material)
        + "); fast SDR there, before -> after: "
        + "; ".join(
            f"{name} vocals {before[name]['vocals']:.2f} -> {after[name]['vocals']:.2f}, "
            f"accompaniment {before[name]['accompaniment']:.2f} -> "
            f"{after[name]['accompaniment']:.2f}"
            for name in before
        )
        + ". The per-epoch validation below is of the uncalibrated weights."
    )


def model_card(
    state: dict[str, Any],
    log: list[dict[str, Any]],
    manifest: dict[str, Any],
    quality: dict[str, Any] | None,
    chosen: str = "the best validation epoch",
    name: str = MODEL_NAME,
    reproduce: str | None = None,
    earlier_stage_manifests: Sequence[dict[str, Any]] = (),
) -> str:
    """The model card's Markdown, from the checkpoint, the training log and the manifest (and
    the manifests of earlier stages where they differ, :func:`earlier_manifests`)."""
    contract, arch, config = state["contract"], state["architecture"], state["config"]
    rate, hop, n_fft = contract["sample_rate_hz"], contract["hop_samples"], contract["n_fft"]
    latency = n_fft + contract["lookahead_frames"] * hop
    parameters = sum(t.numel() for t in state["model_state"].values() if t.dtype.is_floating_point)
    train = config["train"]
    last = log[-1]
    init = state.get("init_checkpoint")
    stages = _stages(log)
    fitted_band = state.get("fitted_by") == "unsing.models.fit_long_band"
    lines = [
        f"# {name}: model card",
        "",
        "Generated by `python -m unsing.models.package` from the training run; do not edit.",
        "",
        "## What it is",
        "",
        f"A causal spectrogram U-Net ({parameters / 1e6:.2f} M parameters) that outputs a soft "
        f"vocal mask per channel: vocals = mask * X, accompaniment = (1 - mask) * X"
        + (
            " (below the crossover the long-window band's mask of the long-window STFT)."
            if arch.get("long_band_analysis_samples")
            else "."
        ),
        f"- Audio: {rate} Hz, {contract['channels']} channels; STFT n_fft {n_fft}, hop {hop}, "
        f"{contract['window']} window.",
        f"- Causal: context {contract['context_frames']} frames "
        f"({1000 * contract['context_frames'] * hop / rate:.0f} ms of past), look-ahead "
        f"{contract['lookahead_frames']} frames.",
        f"- Algorithmic latency it was trained for: {latency} samples = "
        f"{1000 * latency / rate:.1f} ms (at blocksize = hop).",
        f"- Architecture: widths {arch['widths']}, temporal stack {arch['tcn_channels']} "
        f"channels, dilations {arch['tcn_dilations']}{_low_band_text(arch, train, rate, n_fft)}"
        f"{_long_band_text(arch, rate)}.",
        "",
        "## Training",
        "",
        *(
            [_long_band_fit_line(state, train)]
            if fitted_band
            else [
                f"- Epoch {state['epoch'] + 1} of {train['epochs']} (step {state['step']}; "
                f"{chosen}), {train['steps_per_epoch']} steps of {train['batch_size']} random "
                f"{train['excerpt_seconds']} s mixes per epoch, AdamW one-cycle peak learning "
                f"rate {train['learning_rate']}, waveform "
                f"{'SDR ' if train.get('waveform_loss') == 'sdr' else ''}loss weight "
                f"{train['waveform_loss_weight']}"
                + (
                    ", network passes in bfloat16 autocast"
                    if train.get("precision", "float32") == "bfloat16"
                    else ""
                )
                + (
                    f", shipping the moving average of the weights (decay {train['ema_decay']})."
                    if train.get("ema_decay")
                    else "."
                )
            ]
        ),
        f"- Seed {state['seed']}, {state['world_size']} process(es), torch "
        f"{state['torch_version']}, code at git commit `{state['git_commit']}`, on "
        f"`{state['machine']}`; {last['elapsed_s'] / 60:.0f} minutes"
        + ("." if fitted_band else f" for {last['epoch'] + 1} epochs."),
    ]
    if state.get("calibration"):
        line = _calibration_line(state["calibration"])
        if fitted_band:  # the U-Net's, from the stage the band was fitted on
            line = line.replace(
                "- Mask calibrated after training",
                "- The U-Net's mask was calibrated before the band was fitted",
            ).replace(
                "The per-epoch validation below is of the uncalibrated weights.",
                "The band's per-step validation below is of the calibrated model with its band.",
            )
        lines.append(line)
    if init is not None:
        first = init.get("config_train") or {}
        ancestry = ""
        earlier = init.get("init_checkpoint")
        while earlier is not None:
            ancestry += (
                f", which was fine-tuned from `{earlier['path']}` (step {earlier['step']}, "
                f"peak learning rate {(earlier.get('config_train') or {}).get('learning_rate')})"
            )
            earlier = earlier.get("init_checkpoint")
        lines += [
            f"- Fine-tuned from `{init['path']}` (sha256 `{init['sha256'][:12]}`, step "
            f"{init['step']}, code `{init['git_commit']}`), itself trained with peak learning "
            f"rate {first.get('learning_rate')} and seed {first.get('seed')} for "
            f"{init['step']} steps{ancestry}. Stages in the log below: {', '.join(stages)}.",
            reproduce
            or "- Reproduce from scratch: `bash scripts/train_default.sh` (every stage, "
            "package, export).",
        ]
    else:
        lines.append(
            reproduce
            or "- Reproduce: `.venv/bin/unsing train --name NAME` (the shipped config.yaml) then "
            "`.venv/bin/python -m unsing.models.package runs/NAME`."
        )
    lines += [
        "",
        "## Data and licences",
        "",
        f"Manifest `manifest.json` (sha1 `{manifest['sha1'][:12]}`, {manifest['files']} files); "
        "seconds per role:",
        "",
    ]
    for role, seconds in manifest["seconds_per_role"].items():
        lines.append(f"- {role}: {seconds / 60:.1f} min")
    for other in earlier_stage_manifests:
        roles = ", ".join(
            f"{role} {seconds / 60:.1f} min" for role, seconds in other["seconds_per_role"].items()
        )
        lines.append(
            f"- Earlier stages: manifest sha1 `{other['sha1'][:12]}` ({other['files']} files; "
            f"{roles}), kept with those runs, not shipped."
        )
    licences: dict[str, float] = {}
    for entry in manifest["entries"]:
        if entry["role"] != "validation":
            licences[entry["licence"]] = licences.get(entry["licence"], 0.0) + entry["seconds"]
    lines += ["", "Training audio by licence:", ""]
    for licence, seconds in sorted(licences.items(), key=lambda item: -item[1]):
        lines.append(f"- {licence}: {seconds / 60:.1f} min")
    lines += [
        "",
        "MIR-1K and iKala are for research use and several sets are non-commercial: the weights "
        "inherit those terms. Validation never shares a singer (MIR-1K: abjones, annar) or a "
        "track (everything-is-free: sodium) with training.",
        "",
        "## Validation (per epoch, fast SDR: 10 log10 |s|^2 / |s - s_hat|^2, median per set)",
        "",
        "| run | epoch | "
        + " | ".join(
            f"{s} {stem[:5]}"
            for s in state["validation_sdr_db"]
            for stem in ("vocals", "accompaniment")
        )
        + " |",
        "|---|---|" + "---|" * 2 * len(state["validation_sdr_db"]),
    ]
    for record in log:
        values = record["validation_sdr_db"]
        lines.append(
            f"| {record.get('run', '')} | {record['epoch'] + 1} | "
            + " | ".join(
                f"{values.get(s, {}).get(stem, float('nan')):.2f}"
                for s in state["validation_sdr_db"]
                for stem in ("vocals", "accompaniment")
            )
            + " |"
        )
    if quality is not None:
        from unsing.models.quality import render_markdown

        lines += [
            "",
            "## Quality report (BSS Eval v4, `python -m unsing.models.quality`)",
            "",
            render_markdown(quality).strip(),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m unsing.models.package", description=__doc__)
    parser.add_argument("run_dir", type=Path, help="the run folder (runs/NAME)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--checkpoint", default="best.pt", help="best.pt or last.pt")
    parser.add_argument("--name", default=MODEL_NAME, help="file name of the weights")
    parser.add_argument("--reproduce", default=None, help="the card's reproduce line (Markdown)")
    parser.add_argument(
        "--quality",
        type=Path,
        default=None,
        help="quality report JSON to include in the model card",
    )
    args = parser.parse_args(argv)
    try:
        weights = package(
            args.run_dir, args.out, args.checkpoint, args.quality, args.name, args.reproduce
        )
    except ValueError as error:
        print(f"unsing: {error}", file=sys.stderr)
        return 1
    print(f"unsing: wrote {weights} and its model card")
    return 0


if __name__ == "__main__":
    sys.exit(main())
