"""``dfcvae attribute-vectors | edit | predict-attributes | tsne | attribute-correlation``: the
latent space's attributes, thin shells over ``dfcvae.analysis``."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfcvae.cli.analysis_args import (
    C_RANGE,
    DEFAULT_CS,
    default_output,
    find_vectors,
    open_cli_run,
    options,
    parse_floats,
    parse_strengths,
    wrote,
)
from dfcvae.cli.options import (
    MAX_GRID_ROWS,
    MAX_LIMIT,
    MAX_PERPLEXITY,
    MAX_TSNE_POINTS,
    add_command,
    add_count,
    add_number,
)
from dfcvae.config import Range
from dfcvae.data.splits import SPLITS


def cmd_attribute_vectors(args: argparse.Namespace) -> None:
    from dfcvae.analysis.attributes import VECTORS_FILE, attribute_vectors
    from dfcvae.report.artifacts import write_attribute_vectors

    out = default_output(args, VECTORS_FILE)
    vectors = attribute_vectors(
        open_cli_run(args),
        args.split,
        limit=args.limit,
        device=args.device,
        batch_size=args.batch_size,
        progress=not args.quiet,
    )
    print(f"{len(vectors)} attribute vectors: {', '.join(vectors)}")
    wrote(write_attribute_vectors(vectors, out, Path(args.run), args.split))


def cmd_edit(args: argparse.Namespace) -> None:
    from dfcvae.analysis import edit
    from dfcvae.report.artifacts import write_rows

    strengths = parse_strengths(args.strength, args.strength_steps)
    out = default_output(args, "edit.png")
    images = edit(
        open_cli_run(args),
        args.attribute,
        strengths,
        args.n,
        vectors=find_vectors(args),
        split=args.split,
        progress=not args.quiet,
        **options(args),
    )
    print(f"strengths: {', '.join(f'{s:g}' for s in strengths)} (first column: the input)")
    wrote(write_rows(images, out))


def cmd_predict_attributes(args: argparse.Namespace) -> None:
    from dfcvae.analysis.predict import predict_attributes, prediction_rows
    from dfcvae.report.tables import format_predictions, write_predictions_csv

    out = default_output(args, "attribute_predictions.csv")
    cs = parse_floats(args.cs, "--cs", C_RANGE)  # before the run opens: a bad --cs is one line
    rows = prediction_rows(
        predict_attributes(
            open_cli_run(args),
            cs=cs,
            limit=args.limit,
            progress=not args.quiet,
            **options(args),
        )
    )
    write_predictions_csv(out, rows)
    print(format_predictions(rows))
    wrote(out)


def cmd_tsne(args: argparse.Namespace) -> None:
    from dfcvae.analysis import tsne
    from dfcvae.report.artifacts import write_tsne

    color_by = None if args.color_by == "none" else args.color_by
    embedding = tsne(
        open_cli_run(args),
        args.split,
        args.n,
        color_by=color_by,
        perplexity=args.perplexity,
        progress=not args.quiet,
        **options(args),
    )
    wrote(write_tsne(embedding, default_output(args, "tsne.png")))


def cmd_attribute_correlation(args: argparse.Namespace) -> None:
    from dfcvae.analysis import attribute_correlation, attribute_vectors
    from dfcvae.report.artifacts import write_correlation

    out = default_output(args, "attribute_correlation.png")
    vectors = find_vectors(args)
    if vectors is None:
        vectors = attribute_vectors(
            open_cli_run(args),
            device=args.device,
            batch_size=args.batch_size,
            progress=not args.quiet,
        )
    title = f"{Path(args.run).name}: attribute vectors"
    wrote(write_correlation(*attribute_correlation(vectors), out, title))
    wrote(out.with_suffix(".csv"))


def register(commands: argparse._SubParsersAction) -> None:
    p = add_command(
        commands,
        "attribute-vectors",
        cmd_attribute_vectors,
        "mean mu with an attribute minus mean mu without, per attribute (safetensors)",
        batch_size=256,
    )
    p.add_argument("--split", default="train", choices=SPLITS)
    add_count(p, "--limit", high=MAX_LIMIT, help="first N images (default the run's own)")

    p = add_command(
        commands, "edit", cmd_edit, "add an attribute vector to test images' codes across strengths"
    )
    p.add_argument("--attribute", required=True, help="e.g. Smiling (CelebA) or Trouser")
    p.add_argument("--strength", default="-2..2", help="MIN..MAX or a list (default -2..2)")
    add_count(p, "--strength-steps", default=5, high=MAX_GRID_ROWS, help="values in MIN..MAX")
    add_count(p, "--n", default=8, high=MAX_GRID_ROWS, help="test images, one per row")
    p.add_argument("--vectors", help="attribute-vectors file (default RUN/analysis/...)")
    p.add_argument("--split", default="test", choices=SPLITS)

    p = add_command(
        commands,
        "predict-attributes",
        cmd_predict_attributes,
        "linear SVM accuracy per attribute on mu, beside the majority baseline",
        batch_size=256,
    )
    p.add_argument("--cs", default=DEFAULT_CS, help=f"values of C tried on valid ({DEFAULT_CS})")
    add_count(p, "--limit", high=MAX_LIMIT, help="first N images per split (default the run's)")

    p = add_command(commands, "tsne", cmd_tsne, "t-SNE of latent codes (PNG)", batch_size=256)
    p.add_argument(
        "--color-by", default="auto", help="auto, class, a class or attribute name, or none"
    )
    add_count(p, "--n", default=1000, low=3, high=MAX_TSNE_POINTS, help="test images to embed")
    perplexity = Range(above=0, at_most=MAX_PERPLEXITY)
    add_number(p, "--perplexity", float, perplexity, default=30.0, help="capped at (n - 1) / 3")
    p.add_argument("--split", default="test", choices=SPLITS)

    p = add_command(
        commands,
        "attribute-correlation",
        cmd_attribute_correlation,
        "cosine similarity of the attribute vectors (PNG and CSV)",
        batch_size=256,
    )
    p.add_argument("--vectors", help="attribute-vectors file (default RUN/analysis/...)")
