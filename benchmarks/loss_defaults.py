"""The sweep that chose the loss defaults of the presets the original code never had.

Not a speed benchmark: it trains each preset at the demo's settings (Fashion-MNIST 32x32 grey,
batch 64, 700 steps, seed 0, fp32) once per candidate value of one loss option, beside a PVAE at
its defaults, and prints for each run, on 500 test images: reconstruction MSE and SSIM, sharpness
(Laplacian variance of reconstructions) with the paired t against the PVAE, active latent units,
the KL per image and the reconstructions' spread. docs/loss-scale.md holds the results.

    python benchmarks/loss_defaults.py --preset vae-mobilenet --option feature_scale \\
        --values 16 32 64 128 256 --out /tmp/sweep
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from dfcvae import config_from_preset
from dfcvae.analysis.latents import decode, encode_posterior
from dfcvae.analysis.quality import laplacian_variance, mse_per_image, paired_t_test, ssim_per_image
from dfcvae.analysis.runs import open_run
from dfcvae.analysis.selection import choose_indices, stack_images
from dfcvae.files import MODEL_FILE
from dfcvae.training.trainer import train
from dfcvae.vae.collapse import active_units, kl_per_image, reconstruction_spread

STEPS = 700
N_EVAL = 500


def run_config(preset: str, loss: dict, steps: int, seed: int, classifier: str | None):
    if preset == "vae-classifier":
        loss = {"loss_weights": classifier, **loss}
    return config_from_preset(
        preset,
        {
            "model": {"image_size": 32, "channels": 1},
            "loss": loss,
            "data": {"dataset": "fashion-mnist"},
            "train": {"epochs": 1000, "max_steps": steps, "batch_size": 64, "seed": seed,
                      "accelerator": "cpu", "devices": "1", "precision": "32-true",
                      "val_batches": 0, "log_every_n_steps": 50},
        },
    )  # fmt: skip


def trained(out: Path, preset: str, loss: dict, steps: int, seed: int, classifier: str | None):
    if not (out / MODEL_FILE).is_file():
        train(run_config(preset, loss, steps, seed, classifier), out, force=True, progress=False)
    return out


def measure(run_dir: Path, originals: torch.Tensor) -> dict:
    run = open_run(run_dir)
    mu, logvar = encode_posterior(run.model, originals)
    recon = decode(run.model, mu)
    return {
        "mse": mse_per_image(recon, originals),
        "ssim": ssim_per_image(recon, originals),
        "sharpness": laplacian_variance(recon),
        "active_units": active_units(mu),
        "kl_per_image": float(kl_per_image(mu, logvar).mean()),
        "spread": reconstruction_spread(recon, originals),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--option", required=True, help="a [loss] option, e.g. feature_scale")
    parser.add_argument("--values", nargs="+", type=float, required=True)
    parser.add_argument("--extra", default="{}", help="more [loss] options as JSON")
    parser.add_argument("--classifier", default=None, help="train-classifier folder")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/dfcvae-sweep"))
    args = parser.parse_args()
    os.environ.setdefault("DFCVAE_OFFLINE", "1")
    extra = json.loads(args.extra)

    runs = {"pvae": trained(args.out / f"pvae-s{args.seed}", "pvae", {}, args.steps, args.seed,
                            None)}  # fmt: skip
    for value in args.values:
        name = f"{args.preset}-{args.option}-{value:g}-s{args.seed}"
        loss = {**extra, args.option: value}
        runs[f"{args.option}={value:g}"] = trained(
            args.out / name, args.preset, loss, args.steps, args.seed, args.classifier
        )
    dataset = open_run(runs["pvae"]).dataset("test", progress=False)
    originals = stack_images(dataset, choose_indices(len(dataset), N_EVAL, 0))
    results = {name: measure(run_dir, originals) for name, run_dir in runs.items()}
    base = results["pvae"]
    print(f"{args.preset}, {args.steps} steps, seed {args.seed}, extra {extra}")
    print("| run | MSE | SSIM | sharpness | t vs PVAE | active units | KL/image | spread |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        t = paired_t_test(r["sharpness"], base["sharpness"])["t"] if name != "pvae" else 0.0
        print(f"| {name} | {r['mse'].mean():.4f} | {r['ssim'].mean():.3f} | "
              f"{r['sharpness'].mean():.4f} | {t:.1f} | {r['active_units']} | "
              f"{r['kl_per_image']:.1f} | {r['spread']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
