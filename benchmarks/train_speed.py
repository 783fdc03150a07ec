"""Training speed: seconds per optimizer step for each ``train.precision``.

One step as ``unsing train`` takes it (``models.train.optimizer_step``) at the configured
shapes (``train.batch_size`` excerpts of ``train.excerpt_seconds``, the configured widths,
``train.threads`` torch threads): STFT, the network's forward and backward passes, the loss with
its waveform term, gradient clipping and the AdamW update. The audio is random noise: the cost
of a step does not depend on what it holds, and the data pipeline (about 1 % of a step,
measured with py-spy) is left out.

    python -m unsing.benchmarks.train_speed [--steps 6] [--widths 16,32,48,64 ...]

Writes ``benchmarks/results/train_speed.json``. A measurement of this machine at this moment:
anything else running shows up in it (the machine block says which machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from unsing.benchmarks.machine import cpuinfo_field, describe_machine
from unsing.benchmarks.stability import RESULTS
from unsing.models.recipe import TRAIN_PRECISIONS, Recipe, load_recipe


def cpu_flags() -> list[str]:
    """The CPU's bfloat16 and AVX-512 feature flags from /proc/cpuinfo (empty elsewhere)."""
    flags = (cpuinfo_field("flags") or "").split()
    return sorted(f for f in flags if "bf16" in f or f in ("avx512f", "amx_tile"))


def training_step(
    config: Recipe, widths: tuple[int, ...], precision: str
) -> tuple[Callable[[], float], int]:
    """One training step of the U-Net with ``widths`` as a callable (returns the loss), and the
    network's parameter count."""
    import dataclasses

    import torch

    from unsing.models.train import Loss, optimizer_step, unet_config
    from unsing.models.unet import CausalUNet

    settings = config.train
    torch.manual_seed(0)
    model = CausalUNet(dataclasses.replace(unet_config(config), widths=widths))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
    loss_fn = Loss(config.stft, settings.waveform_loss_weight, settings.waveform_loss)
    samples = int(settings.excerpt_seconds * config.model.sample_rate_hz)
    rng = np.random.default_rng(0)
    shape = (settings.batch_size, config.model.channels, samples)
    vocals, accompaniment = (
        torch.from_numpy(0.1 * rng.standard_normal(shape).astype(np.float32)) for _ in range(2)
    )
    batch = (vocals + accompaniment, vocals, accompaniment)

    def step() -> float:
        loss, _ = optimizer_step(model, model, optimizer, loss_fn, batch, precision)
        return loss.item()

    return step, sum(p.numel() for p in model.parameters())


def time_precisions(config: Recipe, widths: tuple[int, ...], steps: int) -> list[dict[str, Any]]:
    """Seconds per step of each precision for ``widths``: two warm-up steps each, then the
    precisions' steps interleaved, so that a slow spell of the machine hits all of them."""
    import torch

    torch.set_num_threads(config.train.threads)
    setups = {p: training_step(config, widths, p) for p in TRAIN_PRECISIONS}
    for step, _ in setups.values():
        step()
        step()
    times: dict[str, list[float]] = {p: [] for p in TRAIN_PRECISIONS}
    for _ in range(steps):
        for precision, (step, _) in setups.items():
            started = time.perf_counter()
            step()
            times[precision].append(time.perf_counter() - started)
    rows = []
    for precision, (_, parameters) in setups.items():
        median = float(np.median(times[precision]))
        rows.append(
            {
                "widths": list(widths),
                "precision": precision,
                "parameters": parameters,
                "seconds_per_step": {
                    "median": round(median, 3),
                    "min": round(min(times[precision]), 3),
                    "max": round(max(times[precision]), 3),
                },
                "steps_per_hour": round(3600 / median),
                "steps": steps,
            }
        )
    return rows


def run(config: Recipe, widths_list: list[tuple[int, ...]], steps: int) -> dict[str, Any]:
    """All precisions for each width; speed-ups against float32 of the same width."""
    rows = [row for widths in widths_list for row in time_precisions(config, widths, steps)]
    for row in rows:
        base = next(r for r in rows if r["widths"] == row["widths"] and r["precision"] == "float32")
        row["speedup_vs_float32"] = round(
            base["seconds_per_step"]["median"] / row["seconds_per_step"]["median"], 2
        )
    settings = config.train
    return {
        "machine": {**describe_machine(), "cpu_flags": cpu_flags()},
        "batch_size": settings.batch_size,
        "excerpt_seconds": settings.excerpt_seconds,
        "threads": settings.threads,
        "rows": rows,
    }


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"widths: {text!r} is not a list like 8,16,24,32"
        ) from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"widths: {text!r} needs positive channel counts")
    return widths


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per row (default 6)")
    parser.add_argument(
        "--widths",
        type=_widths,
        action="append",
        help="U-Net widths to time besides the configured ones (repeatable), e.g. 16,32,48,64",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "train_speed.json")
    args = parser.parse_args(argv)
    config = load_recipe()
    widths_list = [tuple(config.train.widths), *(args.widths or [])]
    result = run(config, widths_list, args.steps)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for row in result["rows"]:
        print(
            f"widths {row['widths']} {row['precision']:>8}: "
            f"{row['seconds_per_step']['median']:.2f} s/step, {row['steps_per_hour']} steps/h, "
            f"x{row['speedup_vs_float32']} vs float32"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
