"""The ``unsing`` command line.

User mistakes (a bad config, no such device, no audio system, a broken model file) end with
one line on stderr and exit status 1, never a traceback. Exit status 2 is a usage error.

Modules: ``options`` (what every command shares), then one module per command group:
``info`` (info, devices), ``engine`` (run, play, separate), ``midi`` (midi ports, monitor,
learn), ``model`` (train, export). They import ``options`` and the layers below, never this
package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from unsing import __version__
from unsing.cli import engine, info, midi, model
from unsing.cli.options import common_parser, run_handler


class OneLineErrorParser(argparse.ArgumentParser):
    """A usage error is one line naming the command and where its help is, exit status 2
    (argparse prints the whole usage first; subcommand parsers inherit this class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    common = common_parser()
    parser = OneLineErrorParser(
        prog="unsing",
        description="Live karaoke vocal remover: removes the lead vocal in real time; MIDI "
        "knobs set how much vocal and accompaniment come through.",
    )
    parser.add_argument("--version", action="version", version=f"unsing {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in (info, engine, midi, model):
        group.register(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``unsing`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_handler(args)


if __name__ == "__main__":
    sys.exit(main())
