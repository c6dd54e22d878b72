"""``dfcvae reconstruct | sample | interpolate``: image grids of one run, thin shells over
``dfcvae.analysis`` that write PNGs with ``dfcvae.report.artifacts``."""

from __future__ import annotations

import argparse

from dfcvae.cli.analysis_args import default_output, open_cli_run, options, wrote
from dfcvae.cli.options import (
    MAX_GRID_IMAGES,
    MAX_GRID_ROWS,
    TEMPERATURE,
    add_command,
    add_count,
    add_number,
)
from dfcvae.data.splits import SPLITS


def cmd_reconstruct(args: argparse.Namespace) -> None:
    from dfcvae.analysis import reconstruct
    from dfcvae.report.artifacts import write_reconstruction

    result = reconstruct(
        open_cli_run(args), args.split, args.n, progress=not args.quiet, **options(args)
    )
    wrote(write_reconstruction(result, default_output(args, "reconstruction.png"), args.nrow))


def cmd_sample(args: argparse.Namespace) -> None:
    from dfcvae.analysis import sample
    from dfcvae.analysis.latent_prior import DEFAULT_SAMPLER
    from dfcvae.report.artifacts import write_samples

    sampler = args.sampler or DEFAULT_SAMPLER
    images = sample(
        open_cli_run(args),
        args.n,
        args.temperature,
        sampler=sampler,
        progress=not args.quiet,
        **options(args),
    )
    wrote(write_samples(images, default_output(args, "samples.png"), args.nrow))


def cmd_interpolate(args: argparse.Namespace) -> None:
    from dfcvae.analysis import interpolate
    from dfcvae.analysis.latent_prior import DEFAULT_SAMPLER
    from dfcvae.report.artifacts import write_rows

    images = interpolate(
        open_cli_run(args),
        args.left,
        args.right,
        steps=args.steps,
        rows=args.rows,
        spherical=args.spherical,
        split=args.split,
        temperature=args.temperature,
        sampler=args.sampler or DEFAULT_SAMPLER,
        progress=not args.quiet,
        **options(args),
    )
    wrote(write_rows(images, default_output(args, "interpolation.png")))


def register(commands: argparse._SubParsersAction) -> None:
    p = add_command(
        commands,
        "reconstruct",
        cmd_reconstruct,
        "test images with their reconstructions under them (PNG grid)",
    )
    p.add_argument("--split", default="test", choices=SPLITS)
    add_count(p, "--n", default=32, high=MAX_GRID_IMAGES, help="images (default 32)")
    add_count(p, "--nrow", default=8, high=MAX_GRID_IMAGES, help="images per row (default 8)")

    p = add_command(commands, "sample", cmd_sample, "images decoded from random latent codes")
    add_count(p, "--n", default=64, high=MAX_GRID_IMAGES)
    add_number(p, "--temperature", float, TEMPERATURE, default=1.0, help="T (the original: 0.4)")
    p.add_argument(
        "--sampler",
        choices=("standard", "fitted"),
        help="standard: z ~ N(0, T^2 I), the paper's; fitted: a Gaussian mixture fitted once to "
        "the train split's mu and kept in RUN/analysis/ (default fitted: its samples were "
        "closer to the test images on every demo run measured)",
    )
    add_count(p, "--nrow", default=8, high=MAX_GRID_IMAGES)

    p = add_command(
        commands,
        "interpolate",
        cmd_interpolate,
        "decoded (1 - a) z_left + a z_right, one row per endpoint pair",
    )
    p.add_argument("--left", nargs="+", help="endpoints: test-split indices or image paths")
    p.add_argument("--right", nargs="+", help="as many endpoints as --left")
    add_count(
        p, "--rows", default=4, high=MAX_GRID_ROWS, help="random pairs when no endpoints given"
    )
    add_count(p, "--steps", default=10, high=MAX_GRID_ROWS)
    p.add_argument("--spherical", action="store_true", help="slerp instead of linear")
    add_number(p, "--temperature", float, TEMPERATURE, default=1.0, help="T of random endpoints")
    p.add_argument(
        "--sampler",
        choices=("standard", "fitted"),
        help="where random endpoints come from, as in `dfcvae sample` (default fitted)",
    )
    p.add_argument("--split", default="test", choices=SPLITS)
