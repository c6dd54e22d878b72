"""Options shared by the commands.

Numbers have bounds: each command declares the range of each number option once (``add_count``,
``add_number``; the training options on their config fields), ``--help`` shows it, and
``check_options`` refuses NaN, the infinities and values outside it in one line naming the
option, before any run is opened (a typo such as ``--n 100000000`` would otherwise exhaust
memory).

The upper bounds sit far above what the paper's figures and metrics use, and low enough that the
images they ask for fit in memory at 128 pixels (docs/reliability.md lists them).
"""

from __future__ import annotations

import argparse
import re

from dfcvae.config import MAX_SEED, Range

MAX_GRID_IMAGES = 1024  # reconstruct --n, sample --n, report --n-grid, --nrow
MAX_GRID_ROWS = 64  # interpolate --rows and --steps, edit --n and --strength-steps
MAX_EVAL_IMAGES = 50_000  # evaluate --n, report --n-eval: the usual FID sample size
MAX_TSNE_POINTS = 20_000  # tsne --n, report --n-tsne
MAX_BATCH_SIZE = 4096
MAX_LIMIT = 10**9  # images per split: a guard against typos only
MAX_DEMO_STEPS = 1_000_000
MAX_PORT = 65_535
MAX_TEMPERATURE = 100.0  # T of z ~ N(0, T^2 I): far beyond any useful sample
MAX_PERPLEXITY = 10_000.0  # t-SNE caps it at (n - 1) / 3 anyway
TEMPERATURE = Range(above=0, at_most=MAX_TEMPERATURE)
# "-2..2", "-1.5", "-2,-1,0": values that start with '-' but are not options.
NEGATIVE_VALUES = re.compile(r"^-\d+$|^-\d*\.\d+$|^-[\d.]+(\.\.|,)[-\d.,]+$")


def add_count(
    p: argparse.ArgumentParser,
    flag: str,
    *,
    high: int,
    low: int = 1,
    default: int | None = None,
    help: str | None = None,
) -> None:
    """An integer option that ``check_options`` keeps within ``low..high``."""
    add_number(p, flag, int, Range(at_least=low, at_most=high), default=default, help=help)


def add_number(
    p: argparse.ArgumentParser,
    flag: str,
    kind: type,
    bounds: Range,
    *,
    default: float | None = None,
    help: str | None = None,
) -> None:
    """A number option (``kind`` int or float) whose bounds are declared here, once: ``--help``
    shows them and ``check_options`` refuses NaN, the infinities and values outside them."""
    span = bounds.describe(integer=kind is int)
    action = p.add_argument(
        flag, type=kind, default=default, help=f"{help} ({span})" if help else span
    )
    ranges = dict(p.get_default("option_ranges") or {})
    ranges[action.dest] = (flag, bounds, kind is int)
    p.set_defaults(option_ranges=ranges)


def check_options(args: argparse.Namespace) -> None:
    """One line naming the option whose value lies outside its declared range."""
    for dest, (flag, bounds, integer) in (getattr(args, "option_ranges", None) or {}).items():
        value = getattr(args, dest, None)
        if value is not None:
            bounds.check(value, flag, integer)


def add_common(p: argparse.ArgumentParser, batch_size: int = 64) -> None:
    """--device, --batch-size, --seed and --quiet."""
    p.add_argument(
        "--device",
        default="auto",
        help="auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda or cuda:N "
        "(default: auto)",
    )
    add_count(p, "--batch-size", default=batch_size, high=MAX_BATCH_SIZE)
    add_number(
        p,
        "--seed",
        int,
        Range(at_least=0, at_most=MAX_SEED),
        default=0,
        help="which images and which z (default 0)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_data_root(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-root",
        metavar="DIR",
        help="read the data from DIR instead of the folder the run was trained on",
    )


def add_command(
    commands: argparse._SubParsersAction,
    name: str,
    func,
    help: str,
    batch_size: int = 64,
    out: str = "",
) -> argparse.ArgumentParser:
    """An analysis command: RUN (or RUN... for evaluate and report), -o, and the common options."""
    p = commands.add_parser(name, help=help, description=help)
    p._negative_number_matcher = NEGATIVE_VALUES  # "--strength -2..2" is a value, not an option
    if name not in ("evaluate", "report"):
        p.add_argument("run", metavar="RUN", help="run directory made by `dfcvae train`")
    p.add_argument("-o", "--out", help=out or "output file (default RUN/analysis/...)")
    add_data_root(p)
    if name not in ("evaluate", "report"):
        p.add_argument(
            "--checkpoint",
            help="a Lightning checkpoint of the run (e.g. checkpoints/last.ckpt) instead of "
            "model.safetensors: an unfinished or interrupted run",
        )
    add_common(p, batch_size)
    p.set_defaults(func=func)
    return p
