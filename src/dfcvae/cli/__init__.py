"""The ``dfcvae`` command: each subcommand is a thin shell over a public function."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import NoReturn

from dfcvae.cli import (
    attribute_commands,
    demo_commands,
    evaluation_commands,
    explore_commands,
    export_commands,
    grid_commands,
    train_commands,
)
from dfcvae.cli.options import check_options
from dfcvae.errors import DFCVAEError
from dfcvae.version import __version__

COMMAND_MODULES = [
    train_commands,
    grid_commands,
    attribute_commands,
    evaluation_commands,
    demo_commands,
    explore_commands,
    export_commands,
]
AFTER_INTERRUPT = {
    "demo": "run the same command again to resume: finished stages are kept",
    "train": "add --resume to the same command to continue from the last checkpoint",
    "train-classifier": "run it again with --force to start over",
}


def one_line(message: str) -> str:
    """A message as one line, whatever line breaks a value in it carried."""
    return " ".join(message.splitlines())  # every break str.splitlines knows, \x1e included


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error: ``dfcvae train: error: argument --lr:
    invalid float value: 'x' (see dfcvae train --help)``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="dfcvae", description="Deep Feature Consistent Variational Autoencoders"
    )
    parser.add_argument("--version", action="version", version=f"dfcvae {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


@contextlib.contextmanager
def one_line_warnings(command: str) -> Iterator[None]:
    """Warnings (random loss-network weights, a resized image, a skipped checkpoint) as one line
    each on stderr; the ones nobody can act on are dropped."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"dfcvae {command}: warning: {one_line(str(message))}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        # Lightning's own use of a deprecated torch API.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    try:
        check_options(args)
        with one_line_warnings(args.command):
            args.func(args)
    except DFCVAEError as error:
        print(f"dfcvae {args.command}: error: {one_line(str(error))}", file=sys.stderr)
        return 2
    except OSError as error:  # an output that cannot be written: a folder, a full disk
        where = f"{error.filename}: " if error.filename else ""
        print(f"dfcvae {args.command}: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = f"; {AFTER_INTERRUPT[args.command]}" if args.command in AFTER_INTERRUPT else ""
        print(f"dfcvae {args.command}: interrupted{hint}", file=sys.stderr)
        return 130
    return 0
