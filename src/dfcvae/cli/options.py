"""Options shared by the commands.

Counts have bounds: each command declares the range of its counts once, ``--help`` shows it, and
``check_counts`` refuses a value outside it in one line naming the option, before any run is
opened (a typo such as ``--n 100000000`` would otherwise exhaust memory).

The upper bounds sit far above what the paper's figures and metrics use, and low enough that the
images they ask for fit in memory at 128 pixels (docs/reliability.md lists them).
"""

from __future__ import annotations

import argparse
import re

from dfcvae.errors import ConfigError

MAX_GRID_IMAGES = 1024  # reconstruct --n, sample --n, report --n-grid, --nrow
MAX_GRID_ROWS = 64  # interpolate --rows and --steps, edit --n and --strength-steps
MAX_EVAL_IMAGES = 50_000  # evaluate --n, report --n-eval: the usual FID sample size
MAX_TSNE_POINTS = 20_000  # tsne --n, report --n-tsne
MAX_BATCH_SIZE = 4096
MAX_LIMIT = 10**9  # images per split: a guard against typos only
MAX_DEMO_STEPS = 1_000_000
MAX_PORT = 65_535
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
    """An integer option that ``check_counts`` keeps within ``low..high``."""
    span = f"{low}..{high:,}"
    action = p.add_argument(
        flag, type=int, default=default, help=f"{help} ({span})" if help else span
    )
    bounds = dict(p.get_default("count_bounds") or {})
    bounds[action.dest] = (flag, low, high)
    p.set_defaults(count_bounds=bounds)


def check_counts(args: argparse.Namespace) -> None:
    """One line naming the option whose value lies outside its declared range."""
    for dest, (flag, low, high) in (getattr(args, "count_bounds", None) or {}).items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if value < low:
            raise ConfigError(f"{flag} {value}: must be at least {low}")
        if value > high:
            raise ConfigError(f"{flag} {value}: must be at most {high:,}")


def add_common(p: argparse.ArgumentParser, batch_size: int = 64) -> None:
    """--device, --batch-size, --seed and --quiet."""
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    add_count(p, "--batch-size", default=batch_size, high=MAX_BATCH_SIZE)
    p.add_argument("--seed", type=int, default=0, help="which images and which z (default 0)")
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
