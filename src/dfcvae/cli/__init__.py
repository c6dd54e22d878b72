"""The ``dfcvae`` command: each subcommand is a thin shell over a public function."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import NoReturn

from dfcvae.cli.options import check_options
from dfcvae.errors import DFCVAEError
from dfcvae.version import __version__

# Each command's module (in dfcvae.cli) and its one-line help, for ``dfcvae --help``: the
# modules import torch, so only the chosen command's is imported (its ``register`` adds all the
# commands it defines; tests/test_cli.py checks that their help matches this table).
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train_commands", "train a PVAE or a DFC-VAE into a run directory"),
    "train-classifier": ("train_commands", "train the small classifier loss network"),
    "weights": ("train_commands", "list loss networks and whether weights are here"),
    "reconstruct": (
        "grid_commands",
        "test images with their reconstructions under them (PNG grid)",
    ),
    "sample": ("grid_commands", "images decoded from random latent codes"),
    "interpolate": (
        "grid_commands",
        "decoded (1 - a) z_left + a z_right, one row per endpoint pair",
    ),
    "attribute-vectors": (
        "attribute_commands",
        "mean mu with an attribute minus mean mu without, per attribute (safetensors)",
    ),
    "edit": (
        "attribute_commands",
        "add an attribute vector to test images' codes across strengths",
    ),
    "predict-attributes": (
        "attribute_commands",
        "linear SVM accuracy per attribute on mu, beside the majority baseline",
    ),
    "tsne": ("attribute_commands", "t-SNE of latent codes (PNG)"),
    "attribute-correlation": (
        "attribute_commands",
        "cosine similarity of the attribute vectors (PNG and CSV)",
    ),
    "evaluate": (
        "evaluation_commands",
        "MSE, PSNR, SSIM, sharpness, LPIPS, Fréchet distances and paired t-tests "
        "between runs on the same test images",
    ),
    "report": ("evaluation_commands", "one self-contained HTML page comparing runs side by side"),
    "demo": (
        "demo_commands",
        "train a PVAE and two DFC-VAEs on Fashion-MNIST and write a report",
    ),
    "explore": (
        "explore_commands",
        "a local page: reconstructions side by side, attribute sliders, interpolation, samples",
    ),
    "export": (
        "export_commands",
        "a run as ONNX files (encoder, decoder) or as a folder to share on the Hub",
    ),
}
ALL = "*"  # build_parser(ALL): every command with all its options
INTERRUPTED = 130  # the shell's status for a process ended by SIGINT (128 + 2)
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


def build_parser(command: str | None = ALL) -> argparse.ArgumentParser:
    """The ``dfcvae`` parser with ``command``'s options (and those of the commands defined
    beside it); every other command is listed with its one-line help only. ``ALL`` (the
    default): every command in full, as tests and documentation tools want it; None: none."""
    parser = OneLineParser(
        prog="dfcvae", description="Deep Feature Consistent Variational Autoencoders"
    )
    parser.add_argument("--version", action="version", version=f"dfcvae {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = {module for module, _ in COMMANDS.values()} if command == ALL else set()
    if command in COMMANDS:
        wanted.add(COMMANDS[command][0])
    registered: set[str] = set()
    for name, (module, help) in COMMANDS.items():
        if module in wanted and module not in registered:
            importlib.import_module(f"dfcvae.cli.{module}").register(commands)
            registered.add(module)
        elif module not in wanted:
            commands.add_parser(name, help=help, add_help=False)
    return parser


def chosen_command(argv: list[str]) -> str | None:
    """The command named in ``argv`` (its first word that is not an option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


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


def command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of one subcommand of ``parser``."""
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[command]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(chosen_command(argv))
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would name "dfcvae", not the command whose options these missed
        command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
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
        return INTERRUPTED
    return 0


def entry() -> NoReturn:
    """The ``dfcvae`` console script and ``python -m dfcvae``: ``main``, then the exit.

    After Ctrl-C the process ends at once (``os._exit``) once its one line is out: everything a
    command keeps is written atomically before that line, so nothing is lost. An ordinary
    interpreter shutdown after an interrupted training step was once seen to spin in the
    garbage collector for minutes (a CI run: the main thread at "Garbage-collecting", no Python
    frame left, cause not found); skipping it makes the exit certain. ``main`` itself returns
    130 as usual, for notebooks and tests that call it in-process."""
    code = main()
    if code == INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
