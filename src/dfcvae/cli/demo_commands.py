"""``dfcvae demo``: the paper's comparison on Fashion-MNIST (see ``dfcvae.demo``)."""

from __future__ import annotations

import argparse

from dfcvae.cli.options import MAX_DEMO_STEPS, add_count
from dfcvae.demo import accelerator_of, explore_command, run_demo
from dfcvae.demo_summary import format_summary
from dfcvae.training.memory import keep_freed_memory, trains_on_cpu


def cmd_demo(args: argparse.Namespace) -> None:
    if trains_on_cpu(accelerator_of(args.device)[0]):
        keep_freed_memory()  # process-wide: the command's to set, not run_demo()'s
    summary = run_demo(
        args.out,
        quick=args.quick,
        steps=args.steps,
        device=args.device,
        force=args.force,
        progress=not args.quiet,
    )
    print(format_summary(summary))
    print(f"explore the three models in a browser: {explore_command(args.out)}")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "demo", help="train a PVAE and two DFC-VAEs on Fashion-MNIST and write a report"
    )
    p.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    p.add_argument("--quick", action="store_true", help="a smoke run of about two minutes")
    add_count(
        p, "--steps", high=MAX_DEMO_STEPS, help="training steps per model (longer runs on a GPU)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--force", action="store_true", help="start over in an existing --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)
