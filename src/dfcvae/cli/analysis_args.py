"""What the analysis commands share: where they write by default, how they parse lists of
numbers, and the options every one of them passes on."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dfcvae.config import Range
from dfcvae.errors import ConfigError

ANALYSIS_DIR = "analysis"
DEFAULT_CS = "0.01,0.1,1,10"
# The SVM's C: any positive value is a valid regularisation; above 1e6 the solver only slows.
C_RANGE = Range(above=0, at_most=1e6)
# Multiples of an attribute vector: beyond +-100 the codes lie far outside the prior.
STRENGTH_RANGE = Range(at_least=-100, at_most=100)


def default_output(args: argparse.Namespace, name: str) -> Path:
    """``-o`` when given (a file, not a folder), else ``RUN/analysis/<name>``."""
    if not args.out:
        return Path(args.run) / ANALYSIS_DIR / name
    return output_file(args.out, name)


def output_file(text: str, example: str) -> Path:
    """``-o TEXT`` as a file path; a folder (or no name at all) is one line."""
    path = Path(text)
    if not path.name or path.is_dir():
        raise ConfigError(f"-o {text!r}: is a folder; give a file name such as {example}")
    return path


def parse_strengths(text: str, steps: int) -> list[float]:
    """``-2..2`` (``steps`` values from -2 to 2), ``-2,-1,0,1`` or one number."""
    message = f"--strength {text!r}: use MIN..MAX (e.g. -2..2) or a list like -2,0,2"
    try:
        if ".." in text:
            low, high = (float(part) for part in text.split("..", 1))
            STRENGTH_RANGE.check([low, high], "--strength", integer=False)
            if steps < 2:
                return [low]
            return [low + (high - low) * k / (steps - 1) for k in range(steps)]
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(message) from None
    if not values:
        raise ConfigError(message)
    STRENGTH_RANGE.check(values, "--strength", integer=False)
    return values


def parse_floats(text: str, option: str, bounds: Range | None = None) -> list[float]:
    """``1,2.5,3`` -> [1.0, 2.5, 3.0]: at least one number, each within ``bounds``."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        raise ConfigError(f"{option} {text!r}: give numbers separated by commas")
    if bounds is not None:
        bounds.check(values, option, integer=False)
    return values


def options(args: argparse.Namespace) -> dict:
    return {"device": args.device, "batch_size": args.batch_size, "seed": args.seed}


def open_cli_run(args: argparse.Namespace):
    """RUN opened once, on --device, with --data-root and --checkpoint applied."""
    from dfcvae.analysis.runs import open_run

    return open_run(
        args.run,
        args.device,
        data_root=args.data_root,
        checkpoint=getattr(args, "checkpoint", None),
    )


def open_cli_runs(args: argparse.Namespace) -> list:
    """Every RUN of evaluate or explore opened once, with --data-root applied to each."""
    from dfcvae.analysis.runs import open_run

    return [open_run(run, args.device, data_root=args.data_root) for run in args.runs]


def wrote(path: Path | str) -> None:
    print(f"wrote {path}")


def find_vectors(args: argparse.Namespace):
    """--vectors FILE, else RUN/analysis/attribute_vectors.safetensors when it was computed from
    the run's current model, else None (computed over the train split by the caller)."""
    from dfcvae.analysis import read_attribute_vectors
    from dfcvae.analysis.run_vectors import VECTORS_CACHE, current_vectors

    if args.vectors:
        vectors = read_attribute_vectors(args.vectors)
        print(f"attribute vectors: {args.vectors}", file=sys.stderr)
        return vectors
    path = Path(args.run) / VECTORS_CACHE
    vectors = current_vectors(args.run, path)
    if vectors is not None:
        print(f"attribute vectors: {path}", file=sys.stderr)
        return vectors
    print("attribute vectors: computing them over the train split", file=sys.stderr)
    return None
