"""``dfcvae export``: a trained run as ONNX files (``dfcvae.saved.export``) or as a folder in the
Hugging Face Hub's layout with a model card (``dfcvae.saved.pretrained.save_pretrained``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfcvae.cli.analysis_args import wrote

FORMATS = ("onnx", "hub")


def cmd_export(args: argparse.Namespace) -> None:
    out = Path(args.out) if args.out else Path(args.run) / "export" / args.format
    if args.format == "hub":
        from dfcvae.saved.pretrained import save_pretrained

        folder = save_pretrained(args.run, out, checkpoint=args.checkpoint, metrics=args.metrics)
        wrote(f"{folder} (config.json, model.safetensors, README.md)")
        return
    from dfcvae.saved.export import ONNX_TOLERANCE, check_onnx, export_onnx
    from dfcvae.saved.model_files import load

    model = load(args.run, checkpoint=args.checkpoint)
    for path in export_onnx(model, out):
        wrote(path)
    if args.check:
        errors = check_onnx(model, out)
        worst = ", ".join(f"{key} {value:.1e}" for key, value in errors.items())
        print(f"onnxruntime matches PyTorch: largest differences {worst} (<= {ONNX_TOLERANCE:g})")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "export",
        help="a run as ONNX files (encoder, decoder) or as a folder to share on the Hub",
        description="onnx: encoder.onnx (image in [0, 1] -> mu, logvar) and decoder.onnx "
        "(z -> image in [0, 1]), any batch size. hub: config.json, model.safetensors and a "
        "README.md model card, the layout of the Hugging Face Hub (dfcvae.from_pretrained).",
    )
    p.add_argument("run", metavar="RUN", help="run directory made by `dfcvae train`")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("-o", "--out", help="output folder (default RUN/export/FORMAT)")
    p.add_argument(
        "--checkpoint", help="a Lightning checkpoint of the run instead of model.safetensors"
    )
    p.add_argument(
        "--metrics", help="hub: `dfcvae evaluate`'s metrics.json, for the model card's table"
    )
    p.add_argument(
        "--check", action="store_true", help="onnx: run the files with onnxruntime against PyTorch"
    )
    p.set_defaults(func=cmd_export)
