"""``dfcvae train``, ``dfcvae train-classifier`` and ``dfcvae weights``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dfcvae.config import RunConfig, merge, read_config_file
from dfcvae.io import CONFIG_FILE, read_config
from dfcvae.loss_networks import weights_status
from dfcvae.presets import PRESETS, config_from_preset
from dfcvae.training.classifier import train_classifier
from dfcvae.training.trainer import train

# CLI flag -> (config section, key); a flag left unset keeps the preset's or the file's value.
TRAIN_FLAGS: dict[str, tuple[str, str]] = {
    "dataset": ("data", "dataset"),
    "data_root": ("data", "root"),
    "crop": ("data", "crop"),
    "labels_file": ("data", "labels_file"),
    "cache_dir": ("data", "cache_dir"),
    "limit": ("data", "limit"),
    "num_workers": ("data", "num_workers"),
    "image_size": ("model", "image_size"),
    "channels": ("model", "channels"),
    "latent_dim": ("model", "latent_dim"),
    "architecture": ("model", "architecture"),
    "loss_network": ("loss", "loss_network"),
    "layers": ("loss", "layers"),
    "loss_weights": ("loss", "loss_weights"),
    "pixel": ("loss", "pixel"),
    "kl_weight": ("loss", "kl_weight"),
    "kl_reduction": ("loss", "kl_reduction"),
    "feature_scale": ("loss", "feature_scale"),
    "recon_weight": ("loss", "recon_weight"),
    "kl_warmup_steps": ("loss", "kl_warmup_steps"),
    "epochs": ("train", "epochs"),
    "max_steps": ("train", "max_steps"),
    "batch_size": ("train", "batch_size"),
    "lr": ("train", "lr"),
    "seed": ("train", "seed"),
    "precision": ("train", "precision"),
    "accelerator": ("train", "accelerator"),
    "devices": ("train", "devices"),
    "strategy": ("train", "strategy"),
    "num_nodes": ("train", "num_nodes"),
    "gradient_clip": ("train", "gradient_clip"),
    "checkpoint_every_n_steps": ("train", "checkpoint_every_n_steps"),
    "deterministic": ("train", "deterministic"),
    "log_every_n_steps": ("train", "log_every_n_steps"),
    "val_batches": ("train", "val_batches"),
}


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for flag, (section, key) in TRAIN_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides.setdefault(section, {})[key] = value
    return overrides


def run_config_from_args(args: argparse.Namespace) -> RunConfig:
    """preset < --config FILE < flags; with --resume, the run's own config.json is the base."""
    if args.resume and (Path(args.out) / CONFIG_FILE).is_file():
        base = read_config(args.out).to_dict()
        return RunConfig.from_dict(merge(base, flag_overrides(args)))
    file_values = read_config_file(args.config) if args.config else {}
    preset = args.preset or file_values.pop("preset", None) or "vae-123"
    file_values.pop("preset", None)
    return config_from_preset(preset, merge(file_values, flag_overrides(args)))


def cmd_train(args: argparse.Namespace) -> None:
    config = run_config_from_args(args)
    out = train(config, args.out, resume=args.resume, force=args.force, progress=not args.quiet)
    print(f"run directory: {out}")


def cmd_train_classifier(args: argparse.Namespace) -> None:
    out = train_classifier(
        args.dataset,
        args.out,
        root=args.data_root,
        image_size=args.image_size,
        channels=args.channels,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        limit=args.limit,
        cache_dir=args.cache_dir,
        num_workers=args.num_workers,
        accelerator=args.accelerator,
        precision=args.precision,
        force=args.force,
        progress=not args.quiet,
    )
    print(f"classifier: {out} (use it with --preset vae-classifier --loss-weights {out})")


def cmd_weights(args: argparse.Namespace) -> None:
    rows = weights_status()
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['available']:<8}  {row['where']}")


def add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", help="fashion-mnist, mnist, cifar10, stl10, celeba or folder")
    p.add_argument("--data-root", help="data folder (CelebA layout, image folder, download dir)")
    p.add_argument("--image-size", type=int, help="32, 64 (the paper) or 128")
    p.add_argument("--channels", type=int, choices=(1, 3), help="default: the data set's own")
    p.add_argument("--limit", type=int, help="use only the first N images of each split")
    p.add_argument("--cache-dir", help="preprocessed cache (default $DFCVAE_CACHE or ~/.cache)")
    p.add_argument("--num-workers", type=int, help="DataLoader worker processes")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("train", help="train a PVAE or a DFC-VAE into a run directory")
    p.add_argument("--preset", help=f"one of: {', '.join(PRESETS)} (default vae-123)")
    p.add_argument("--config", help="TOML or JSON config file (see configs/)")
    p.add_argument("--out", required=True, help="run directory")
    add_data_flags(p)
    p.add_argument("--crop", choices=("default", "original", "none"), help="CelebA crop")
    p.add_argument("--labels-file", help="CSV labels for --dataset folder")
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--architecture", help="paper (default) or original-128 (the original code)")
    p.add_argument("--loss-network", help="vgg19, mobilenet_v2 or classifier")
    p.add_argument("--layers", type=lambda s: s.split(","), help="e.g. relu1_1,relu2_1,relu3_1")
    p.add_argument("--loss-weights", help="weights file, classifier folder, or 'random' (timing)")
    p.add_argument("--pixel", choices=("sse", "bce"), help="pixel loss of the PVAE")
    p.add_argument("--kl-weight", type=float, help="alpha (the preset's; 1 in the paper's)")
    p.add_argument(
        "--kl-reduction",
        choices=("mean", "sum"),
        help="KL averaged or summed over the batch (docs/loss-scale.md)",
    )
    p.add_argument(
        "--feature-scale",
        type=float,
        help="multiplies the loss network's features (default: the network's own)",
    )
    p.add_argument("--recon-weight", type=float, help="beta (0.5 for feature losses)")
    p.add_argument("--kl-warmup-steps", type=int, help="ramp alpha from 0 over N steps")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--precision", help="auto, 32-true, bf16-mixed, 16-mixed")
    p.add_argument("--accelerator", help="auto, cpu or gpu")
    p.add_argument("--devices", help="auto, a count, or a list like 0,1")
    p.add_argument("--strategy", help="auto, ddp, ddp_spawn, ...")
    p.add_argument("--num-nodes", type=int)
    p.add_argument("--gradient-clip", type=float)
    p.add_argument("--checkpoint-every-n-steps", type=int)
    p.add_argument("--log-every-n-steps", type=int)
    p.add_argument("--val-batches", type=int, help="validation batches per epoch (0: none)")
    p.add_argument("--deterministic", action="store_const", const=True)
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/last.ckpt")
    p.add_argument("--force", action="store_true", help="overwrite an existing run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = commands.add_parser("train-classifier", help="train the small classifier loss network")
    p.add_argument("--out", required=True, help="output folder for the classifier")
    add_data_flags(p)
    p.set_defaults(dataset="fashion-mnist", image_size=32, num_workers=0)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-3, help="peak of the one-cycle schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--force", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train_classifier)

    p = commands.add_parser("weights", help="list loss networks and whether weights are here")
    p.set_defaults(func=cmd_weights)
