"""``dfcvae evaluate | report``: metrics between runs, and the HTML page that compares them
(computed by ``analysis.pipeline``, drawn by ``dfcvae.report``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfcvae.cli.analysis_args import open_cli_runs, options, output_file, wrote
from dfcvae.cli.options import (
    MAX_EVAL_IMAGES,
    MAX_GRID_IMAGES,
    MAX_LIMIT,
    MAX_TSNE_POINTS,
    TEMPERATURE,
    add_command,
    add_count,
    add_number,
)
from dfcvae.data.splits import SPLITS


def cmd_evaluate(args: argparse.Namespace) -> None:
    from dfcvae.analysis.evaluate import FEATURE_SPACES, evaluate
    from dfcvae.files import write_json
    from dfcvae.report.tables import format_metrics

    out = output_file(args.out, "metrics.json") if args.out else Path("metrics.json")
    metrics = evaluate(
        open_cli_runs(args),
        args.split,
        args.n,
        temperature=args.temperature,
        feature_spaces=args.feature_space or FEATURE_SPACES,
        classifier=args.classifier,
        use_lpips=not args.no_lpips,
        limit=args.limit,
        progress=not args.quiet,
        **options(args),
    )
    write_json(out, metrics)
    print(format_metrics(metrics))
    wrote(out)


def cmd_report(args: argparse.Namespace) -> None:
    from dfcvae.analysis.evaluate import FEATURE_SPACES
    from dfcvae.analysis.pipeline import AnalysisSettings, analyse
    from dfcvae.report import build_report, default_results_dir, store_dir

    settings = AnalysisSettings(
        split=args.split,
        n_eval=args.n_eval,
        n_grid=args.n_grid,
        n_tsne=args.n_tsne,
        temperature=args.temperature,
        edit_attribute=args.attribute,
        limit=args.limit,
        feature_spaces=args.feature_space or FEATURE_SPACES,
        classifier=args.classifier,
        data_root=args.data_root,
        progress=not args.quiet,
        **options(args),
    )
    out = output_file(args.out, "report.html")
    results_dir = Path(args.results_dir or default_results_dir(out))
    store = store_dir(results_dir)
    results = analyse(args.runs, settings, store=store, compute=not args.no_compute)
    wrote(build_report(results, out, results_dir, title=args.title))


def register(commands: argparse._SubParsersAction) -> None:
    p = add_command(
        commands,
        "evaluate",
        cmd_evaluate,
        "MSE, PSNR, SSIM, sharpness, LPIPS, Fréchet distances and paired t-tests "
        "between runs on the same test images",
        out="JSON file (metrics.json)",
    )
    p.add_argument("runs", metavar="RUN", nargs="+")
    p.add_argument("--split", default="test", choices=SPLITS)
    add_count(
        p, "--n", default=1000, high=MAX_EVAL_IMAGES, help="test images (and samples) per run"
    )
    add_number(p, "--temperature", float, TEMPERATURE, default=1.0, help="T of the samples")
    p.add_argument(
        "--feature-space",
        action="append",
        choices=("inception", "mobilenet_v2", "classifier"),
        help="Fréchet feature space (repeatable; default all that are available)",
    )
    p.add_argument("--classifier", help="train-classifier folder for the classifier space")
    p.add_argument("--no-lpips", action="store_true")
    add_count(p, "--limit", high=MAX_LIMIT, help="first N images of the split")

    p = add_command(
        commands,
        "report",
        cmd_report,
        "one self-contained HTML page comparing runs side by side",
        out="HTML file (report.html)",
    )
    p.set_defaults(out="report.html")
    p.add_argument("runs", metavar="RUN", nargs="+")
    p.add_argument("--results-dir", help="results store and result files (default OUT_files/)")
    p.add_argument(
        "--no-compute", action="store_true", help="only show results stored for these settings"
    )
    p.add_argument("--title", default="DFC-VAE report")
    p.add_argument("--split", default="test", choices=SPLITS)
    add_count(p, "--n-eval", default=500, high=MAX_EVAL_IMAGES, help="test images for the metrics")
    add_count(p, "--n-grid", default=16, high=MAX_GRID_IMAGES, help="images per grid")
    add_count(p, "--n-tsne", default=500, low=3, high=MAX_TSNE_POINTS, help="points per t-SNE")
    add_number(p, "--temperature", float, TEMPERATURE, default=1.0, help="T of the samples")
    p.add_argument("--attribute", help="attribute to edit (default Smiling, else the longest)")
    add_count(p, "--limit", high=MAX_LIMIT, help="first N images per split for vectors and SVMs")
    p.add_argument(
        "--feature-space", action="append", choices=("inception", "mobilenet_v2", "classifier")
    )
    p.add_argument("--classifier", help="train-classifier folder for the classifier space")
