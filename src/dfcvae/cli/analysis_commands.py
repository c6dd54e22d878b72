"""``dfcvae reconstruct | sample | interpolate | attribute-vectors | edit | predict-attributes |
tsne | attribute-correlation | evaluate | report``: thin shells that compute with
``dfcvae.analysis`` (``report``: ``analysis.pipeline``) and write with ``dfcvae.report``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dfcvae.cli.options import (
    MAX_EVAL_IMAGES,
    MAX_GRID_IMAGES,
    MAX_GRID_ROWS,
    MAX_LIMIT,
    MAX_TSNE_POINTS,
    add_command,
    add_count,
)
from dfcvae.data.splits import SPLITS
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


def cmd_reconstruct(args: argparse.Namespace) -> None:
    from dfcvae.analysis import reconstruct
    from dfcvae.report.artifacts import write_reconstruction

    result = reconstruct(args.run, args.split, args.n, progress=not args.quiet, **options(args))
    wrote(write_reconstruction(result, default_output(args, "reconstruction.png"), args.nrow))


def cmd_sample(args: argparse.Namespace) -> None:
    from dfcvae.analysis import sample
    from dfcvae.report.artifacts import write_samples

    images = sample(args.run, args.n, args.temperature, **options(args))
    wrote(write_samples(images, default_output(args, "samples.png"), args.nrow))


def cmd_interpolate(args: argparse.Namespace) -> None:
    from dfcvae.analysis import interpolate
    from dfcvae.report.artifacts import write_rows

    images = interpolate(args.run, args.left, args.right, steps=args.steps, rows=args.rows,
                         spherical=args.spherical, split=args.split,
                         temperature=args.temperature, **options(args))  # fmt: skip
    wrote(write_rows(images, default_output(args, "interpolation.png")))


def cmd_attribute_vectors(args: argparse.Namespace) -> None:
    from dfcvae.analysis.attributes import VECTORS_FILE, attribute_vectors
    from dfcvae.report.artifacts import write_attribute_vectors

    out = default_output(args, VECTORS_FILE)
    vectors = attribute_vectors(args.run, args.split, limit=args.limit, device=args.device,
                                batch_size=args.batch_size, progress=not args.quiet)  # fmt: skip
    print(f"{len(vectors)} attribute vectors: {', '.join(vectors)}")
    wrote(write_attribute_vectors(vectors, out, Path(args.run), args.split))


def cmd_edit(args: argparse.Namespace) -> None:
    from dfcvae.analysis import edit
    from dfcvae.report.artifacts import write_rows

    strengths = parse_strengths(args.strength, args.strength_steps)
    out = default_output(args, "edit.png")
    images = edit(args.run, args.attribute, strengths, args.n, vectors=find_vectors(args),
                  split=args.split, progress=not args.quiet, **options(args))  # fmt: skip
    print(f"strengths: {', '.join(f'{s:g}' for s in strengths)} (first column: the input)")
    wrote(write_rows(images, out))


def cmd_predict_attributes(args: argparse.Namespace) -> None:
    from dfcvae.analysis.predict import predict_attributes, prediction_rows
    from dfcvae.report.tables import format_predictions, write_predictions_csv

    out = default_output(args, "attribute_predictions.csv")
    rows = prediction_rows(predict_attributes(
        args.run, cs=parse_floats(args.cs, "--cs"), limit=args.limit, progress=not args.quiet,
        **options(args)))  # fmt: skip
    write_predictions_csv(out, rows)
    print(format_predictions(rows))
    wrote(out)


def cmd_tsne(args: argparse.Namespace) -> None:
    from dfcvae.analysis import tsne
    from dfcvae.report.artifacts import write_tsne

    color_by = None if args.color_by == "none" else args.color_by
    embedding = tsne(args.run, args.split, args.n, color_by=color_by, perplexity=args.perplexity,
                     progress=not args.quiet, **options(args))  # fmt: skip
    wrote(write_tsne(embedding, default_output(args, "tsne.png")))


def cmd_attribute_correlation(args: argparse.Namespace) -> None:
    from dfcvae.analysis import attribute_correlation, attribute_vectors
    from dfcvae.report.artifacts import write_correlation

    out = default_output(args, "attribute_correlation.png")
    vectors = find_vectors(args)
    if vectors is None:
        vectors = attribute_vectors(args.run, device=args.device, batch_size=args.batch_size,
                                    progress=not args.quiet)  # fmt: skip
    title = f"{Path(args.run).name}: attribute vectors"
    wrote(write_correlation(*attribute_correlation(vectors), out, title))
    wrote(out.with_suffix(".csv"))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from dfcvae.analysis.evaluate import FEATURE_SPACES, evaluate
    from dfcvae.files import write_json
    from dfcvae.report.tables import format_metrics

    out = Path(args.out or "metrics.json")
    metrics = evaluate(args.runs, args.split, args.n, temperature=args.temperature,
                       feature_spaces=args.feature_space or FEATURE_SPACES,
                       classifier=args.classifier, use_lpips=not args.no_lpips,
                       limit=args.limit, progress=not args.quiet, **options(args))  # fmt: skip
    write_json(out, metrics)
    print(format_metrics(metrics))
    wrote(out)


def cmd_report(args: argparse.Namespace) -> None:
    from dfcvae.analysis.evaluate import FEATURE_SPACES
    from dfcvae.analysis.pipeline import AnalysisSettings, analyse
    from dfcvae.report import build_report, default_results_dir, read_results

    settings = AnalysisSettings(
        split=args.split, n_eval=args.n_eval, n_grid=args.n_grid, n_tsne=args.n_tsne,
        temperature=args.temperature, edit_attribute=args.attribute, limit=args.limit,
        feature_spaces=args.feature_space or FEATURE_SPACES, classifier=args.classifier,
        progress=not args.quiet, **options(args),
    )  # fmt: skip
    results_dir = Path(args.results_dir or default_results_dir(args.out))
    known = read_results(results_dir, args.runs)
    results = analyse(args.runs, settings, known=known, compute=not args.no_compute)
    wrote(build_report(results, args.out, results_dir, title=args.title))


def register(commands: argparse._SubParsersAction) -> None:
    register_grids(commands)
    register_attributes(commands)
    register_evaluation(commands)


def register_grids(commands: argparse._SubParsersAction) -> None:
    p = add_command(commands, "reconstruct", cmd_reconstruct,
                    "test images with their reconstructions under them (PNG grid)")  # fmt: skip
    p.add_argument("--split", default="test", choices=SPLITS)
    add_count(p, "--n", default=32, high=MAX_GRID_IMAGES, help="images (default 32)")
    add_count(p, "--nrow", default=8, high=MAX_GRID_IMAGES, help="images per row (default 8)")

    p = add_command(commands, "sample", cmd_sample, "images decoded from z ~ N(0, T^2 I)")
    add_count(p, "--n", default=64, high=MAX_GRID_IMAGES)
    p.add_argument("--temperature", type=float, default=1.0, help="T (the original code: 0.4)")
    add_count(p, "--nrow", default=8, high=MAX_GRID_IMAGES)

    p = add_command(commands, "interpolate", cmd_interpolate,
                    "decoded (1 - a) z_left + a z_right, one row per endpoint pair")  # fmt: skip
    p.add_argument("--left", nargs="+", help="endpoints: test-split indices or image paths")
    p.add_argument("--right", nargs="+", help="as many endpoints as --left")
    add_count(p, "--rows", default=4, high=MAX_GRID_ROWS,
              help="random pairs when no endpoints given")  # fmt: skip
    add_count(p, "--steps", default=10, high=MAX_GRID_ROWS)
    p.add_argument("--spherical", action="store_true", help="slerp instead of linear")
    p.add_argument("--temperature", type=float, default=1.0, help="T of random endpoints")
    p.add_argument("--split", default="test", choices=SPLITS)


def register_attributes(commands: argparse._SubParsersAction) -> None:
    p = add_command(commands, "attribute-vectors", cmd_attribute_vectors,
                    "mean mu with an attribute minus mean mu without, per attribute "
                    "(safetensors)", batch_size=256)  # fmt: skip
    p.add_argument("--split", default="train", choices=SPLITS)
    add_count(p, "--limit", high=MAX_LIMIT, help="first N images (default the run's own)")

    p = add_command(commands, "edit", cmd_edit,
                    "add an attribute vector to test images' codes across strengths")  # fmt: skip
    p.add_argument("--attribute", required=True, help="e.g. Smiling (CelebA) or Trouser")
    p.add_argument("--strength", default="-2..2", help="MIN..MAX or a list (default -2..2)")
    add_count(p, "--strength-steps", default=5, high=MAX_GRID_ROWS, help="values in MIN..MAX")
    add_count(p, "--n", default=8, high=MAX_GRID_ROWS, help="test images, one per row")
    p.add_argument("--vectors", help="attribute-vectors file (default RUN/analysis/...)")
    p.add_argument("--split", default="test", choices=SPLITS)

    p = add_command(commands, "predict-attributes", cmd_predict_attributes,
                    "linear SVM accuracy per attribute on mu, beside the majority baseline",
                    batch_size=256)  # fmt: skip
    p.add_argument("--cs", default=DEFAULT_CS, help=f"values of C tried on valid ({DEFAULT_CS})")
    add_count(p, "--limit", high=MAX_LIMIT, help="first N images per split (default the run's)")

    p = add_command(commands, "tsne", cmd_tsne, "t-SNE of latent codes (PNG)", batch_size=256)
    p.add_argument("--color-by", default="auto",
                   help="auto, class, a class or attribute name, or none")  # fmt: skip
    add_count(p, "--n", default=1000, high=MAX_TSNE_POINTS)
    p.add_argument("--perplexity", type=float, default=30.0)
    p.add_argument("--split", default="test", choices=SPLITS)

    p = add_command(commands, "attribute-correlation", cmd_attribute_correlation,
                    "cosine similarity of the attribute vectors (PNG and CSV)",
                    batch_size=256)  # fmt: skip
    p.add_argument("--vectors", help="attribute-vectors file (default RUN/analysis/...)")


def register_evaluation(commands: argparse._SubParsersAction) -> None:
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
    add_count(p, "--n", default=1000, high=MAX_EVAL_IMAGES,
              help="test images (and samples) per run")  # fmt: skip
    p.add_argument("--temperature", type=float, default=1.0, help="T of the samples")
    p.add_argument(
        "--feature-space",
        action="append",
        choices=("inception", "mobilenet_v2", "classifier"),
        help="Fréchet feature space (repeatable; default all that are available)",
    )
    p.add_argument("--classifier", help="train-classifier folder for the classifier space")
    p.add_argument("--no-lpips", action="store_true")
    add_count(p, "--limit", high=MAX_LIMIT, help="first N images of the split")

    p = add_command(commands, "report", cmd_report,
                    "one self-contained HTML page comparing runs side by side",
                    out="HTML file (report.html)")  # fmt: skip
    p.set_defaults(out="report.html")
    p.add_argument("runs", metavar="RUN", nargs="+")
    p.add_argument("--results-dir", help="reuse/write result files here (default OUT_files/)")
    p.add_argument("--no-compute", action="store_true", help="only use files in --results-dir")
    p.add_argument("--title", default="DFC-VAE report")
    p.add_argument("--split", default="test", choices=SPLITS)
    add_count(p, "--n-eval", default=500, high=MAX_EVAL_IMAGES, help="test images for the metrics")
    add_count(p, "--n-grid", default=16, high=MAX_GRID_IMAGES, help="images per grid")
    add_count(p, "--n-tsne", default=500, high=MAX_TSNE_POINTS, help="points per t-SNE")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--attribute", help="attribute to edit (default Smiling, else the longest)")
    add_count(p, "--limit", high=MAX_LIMIT, help="first N images per split for vectors and SVMs")
    p.add_argument(
        "--feature-space", action="append", choices=("inception", "mobilenet_v2", "classifier")
    )
    p.add_argument("--classifier", help="train-classifier folder for the classifier space")
