"""``unsing train`` and ``unsing export``: make a model (need the ``train`` extra: torch)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from unsing.errors import UnsingError
from unsing.models.recipe import add_recipe_arguments, recipe_from_args

#: How to get torch when ``train`` or ``export`` cannot import it.
INSTALL_TRAIN_EXTRA = (
    "install the train extra: pip install 'unsing[train]' "
    "(from a checkout: .venv/bin/pip install -e '.[train]')"
)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``unsing train`` and ``unsing export`` to ``commands`` (argparse subparsers)."""
    train = commands.add_parser(
        "train",
        help="train the U-Net from a recipe file (needs the train extra: torch)",
        description="Train the U-Net on the audio under train.data_root; every setting comes "
        "from a recipe file (models/recipes/default.yaml: the shipped model's, with its "
        "stages; docs/training.md). Distributed: torchrun --nproc_per_node N -m "
        "unsing.models.train [same options].",
    )
    add_recipe_arguments(train)
    train.add_argument(
        "--name", metavar="NAME", help="run folder under train.runs_dir (default: a timestamp)"
    )
    train.add_argument("--resume", action="store_true", help="continue the run from last.pt")
    train.add_argument(
        "--max-steps",
        type=int,
        metavar="N",
        help="stop after N optimizer steps (at most the stage's max_steps; smoke tests)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--init",
        metavar="CHECKPOINT",
        help="fine-tune: start from this checkpoint's weights with a fresh schedule",
    )
    train.set_defaults(handler=cmd_train)

    export = commands.add_parser(
        "export",
        help="export a checkpoint to ONNX (streaming, window and sequence graphs), check parity",
        description="Writes MODEL.onnx (streaming graph: one frame + state per hop), "
        "MODEL.window.onnx (window graph) and MODEL.sequence.onnx (sequence graph: many frames "
        "per call, for offline separation), the model contract in their metadata, and checks "
        "PyTorch vs onnxruntime parity on random input and real audio.",
    )
    export.add_argument("checkpoint", metavar="CHECKPOINT.pt")
    export.add_argument("-o", "--out", required=True, metavar="MODEL.onnx")
    export.add_argument(
        "--audio",
        metavar="FILE",
        help="real audio for the parity check (default: the demo song if found)",
    )
    export.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    """``unsing export``: checkpoint -> ONNX graphs, parity printed; exit 1 if it fails."""
    try:
        from unsing.export.export_checkpoint import export_checkpoint
    except ImportError as error:
        raise UnsingError(f"export needs torch and onnx ({error}); {INSTALL_TRAIN_EXTRA}") from None
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        raise UnsingError(f"{checkpoint}: checkpoint not found")
    audio = Path(args.audio) if args.audio else _default_parity_audio()
    report = export_checkpoint(checkpoint, Path(args.out), audio)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _default_parity_audio() -> Path | None:
    from unsing import PROJECT_ROOT

    for candidate in sorted(((PROJECT_ROOT or Path.cwd()) / "assets").rglob("*.ogg")):
        return candidate
    return None


def cmd_train(args: argparse.Namespace) -> int:
    """``unsing train``: train one stage of a recipe."""
    try:
        from unsing.models.train import run_from_args
    except ImportError as error:
        raise UnsingError(f"training needs torch ({error}); {INSTALL_TRAIN_EXTRA}") from None
    return run_from_args(recipe_from_args(args), args)
