"""``dfcvae explore``: a thin shell over ``dfcvae.explore.serve``."""

from __future__ import annotations

import argparse

from dfcvae.cli.analysis_args import open_cli_runs
from dfcvae.cli.options import MAX_PORT, add_count, add_data_root


def cmd_explore(args: argparse.Namespace) -> None:
    from dfcvae.explore import return_large_blocks, serve

    return_large_blocks()  # memory freed after an upload goes back to the system
    runs = open_cli_runs(args) if args.data_root else args.runs
    serve(runs, host=args.host, port=args.port, device=args.device, progress=not args.quiet)


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "explore",
        help="a local page: reconstructions side by side, attribute sliders, interpolation, "
        "samples",
        description="Serve a local page to explore trained runs side by side: nothing is "
        "loaded from the network. Binds 127.0.0.1 unless --host says otherwise.",
    )
    p.add_argument("runs", metavar="RUN", nargs="+", help="run directories made by `dfcvae train`")
    add_count(
        p, "--port", default=8765, low=0, high=MAX_PORT, help="default 8765; 0 picks a free port"
    )
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    p.add_argument(
        "--device",
        default="auto",
        help="auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda or cuda:N "
        "(default: auto)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars at start")
    add_data_root(p)
    p.set_defaults(func=cmd_explore)
