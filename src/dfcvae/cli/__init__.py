"""The ``dfcvae`` command: each subcommand is a thin shell over a public function."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from dfcvae.cli import analysis_commands, demo_commands, train_commands
from dfcvae.data import DataError
from dfcvae.errors import DFCVAEError

COMMAND_MODULES = [train_commands, analysis_commands, demo_commands]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfcvae", description="Deep Feature Consistent Variational Autoencoders"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    try:
        args.func(args)
    except (DFCVAEError, DataError) as error:
        print(f"dfcvae {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dfcvae {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
