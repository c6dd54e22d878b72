"""What the analysis commands share: where they write by default, how they parse lists of
numbers, and the options every one of them passes on."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dfcvae.errors import ConfigError

ANALYSIS_DIR = "analysis"
DEFAULT_CS = "0.01,0.1,1,10"


def default_output(args: argparse.Namespace, name: str) -> Path:
    """``-o`` when given, else ``RUN/analysis/<name>``."""
    return Path(args.out) if args.out else Path(args.run) / ANALYSIS_DIR / name


def parse_strengths(text: str, steps: int) -> list[float]:
    """``-2..2`` (``steps`` values from -2 to 2), ``-2,-1,0,1`` or one number."""
    try:
        if ".." in text:
            low, high = (float(part) for part in text.split("..", 1))
            if steps < 2:
                return [low]
            return [low + (high - low) * k / (steps - 1) for k in range(steps)]
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        message = f"--strength {text!r}: use MIN..MAX (e.g. -2..2) or a list like -2,0,2"
        raise ConfigError(message) from None


def parse_floats(text: str, option: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{option} {text!r}: give numbers separated by commas") from None


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
    """--vectors FILE, else RUN/analysis/attribute_vectors.safetensors if there, else None."""
    from dfcvae.analysis import read_attribute_vectors
    from dfcvae.analysis.attributes import VECTORS_FILE

    path = Path(args.vectors) if args.vectors else Path(args.run) / ANALYSIS_DIR / VECTORS_FILE
    if args.vectors or path.is_file():
        vectors = read_attribute_vectors(path)
        print(f"attribute vectors: {path}", file=sys.stderr)
        return vectors
    print("attribute vectors: computing them over the train split", file=sys.stderr)
    return None
