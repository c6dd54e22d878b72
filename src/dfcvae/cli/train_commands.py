"""``dfcvae train``, ``dfcvae train-classifier`` and ``dfcvae weights``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dfcvae.config import add_flags, flag_values, merge, read_config_file, to_toml
from dfcvae.configs import config_path, shipped_configs
from dfcvae.data import DataConfig
from dfcvae.errors import ConfigError
from dfcvae.files import CONFIG_FILE
from dfcvae.loss_networks import weights_status
from dfcvae.saved.model_files import read_config
from dfcvae.training.classifier import train_classifier
from dfcvae.training.classifier_config import ClassifierTrainConfig
from dfcvae.training.memory import keep_freed_memory, trains_on_cpu
from dfcvae.training.trainer import train
from dfcvae.vae.presets import PRESETS, config_from_preset
from dfcvae.vae.run_config import SECTIONS, RunConfig


def run_config_from_args(args: argparse.Namespace) -> RunConfig:
    """preset < --config FILE < flags; with --resume, the run's own config.json is the base."""
    if args.resume and args.out and (Path(args.out) / CONFIG_FILE).is_file():
        base = read_config(args.out).to_dict()
        if args.preset and args.preset != base["preset"]:
            raise ConfigError(
                f"--resume: {args.out} was trained with --preset {base['preset']}, not "
                f"{args.preset}; train the other preset into another --out"
            )
        return RunConfig.from_dict(merge(base, flag_values(args, args.config_flags)))
    file_values = read_config_file(config_path(args.config)) if args.config else {}
    if args.config:  # each key's type and range, naming the file: one line before any merge
        RunConfig.from_dict(file_values, source=f"--config {args.config}", ranges=True)
    preset = args.preset or file_values.pop("preset", None) or "vae-123"
    file_values.pop("preset", None)
    return config_from_preset(preset, merge(file_values, flag_values(args, args.config_flags)))


def cmd_train(args: argparse.Namespace) -> None:
    config = run_config_from_args(args)
    if args.print_config:  # values already range-checked; the data are not looked at
        values = config.to_dict()
        print(json.dumps(values, indent=2) if args.print_config == "json" else to_toml(values))
        return
    if not args.out:
        raise ConfigError("--out DIR is required: the run directory to train into")
    if trains_on_cpu(config.train.accelerator):
        keep_freed_memory()  # process-wide: the command's to set, not train()'s
    out = train(config, args.out, resume=args.resume, force=args.force, progress=not args.quiet)
    print(f"run directory: {out}")


def cmd_train_classifier(args: argparse.Namespace) -> None:
    values = flag_values(args, args.config_flags)
    config = ClassifierTrainConfig(data=DataConfig(**values.pop("data", {})), **values)
    out = train_classifier(config, args.out, force=args.force, progress=not args.quiet)
    metrics = json.loads((out / "metrics.json").read_text())
    print(
        f"test accuracy {100 * metrics['test_accuracy']:.1f}% "
        f"(majority baseline {100 * metrics['test_majority_baseline']:.1f}%)"
    )
    print(f"classifier: {out} (use it with --preset vae-classifier --loss-weights {out})")


def cmd_weights(args: argparse.Namespace) -> None:
    rows = weights_status()
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['available']:<8}  {row['where']}")


def register(commands: argparse._SubParsersAction) -> None:
    register_train(commands)
    register_train_classifier(commands)
    p = commands.add_parser("weights", help="list loss networks and whether weights are here")
    p.set_defaults(func=cmd_weights)


def register_train(commands: argparse._SubParsersAction) -> None:
    """Every config option with a flag, from the dataclasses' field metadata; a flag left unset
    keeps the preset's or the config file's value."""
    p = commands.add_parser("train", help="train a PVAE or a DFC-VAE into a run directory")
    p.add_argument("--preset", help=f"one of: {', '.join(PRESETS)} (default: vae-123)")
    p.add_argument(
        "--config",
        help="a TOML or JSON config file, or the name of a shipped one: "
        + ", ".join(shipped_configs()),
    )
    p.add_argument("--out", help="run directory (required, unless --print-config)")
    flags: dict[str, tuple[str, ...]] = {}
    for section in ("data", "model", "loss", "train"):
        flags |= add_flags(p, SECTIONS[section], (section,))
    show_defaults(p, flags)
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its newest checkpoint, with its own config.json "
        "(flags given change it; its preset and architecture cannot change)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--print-config",
        nargs="?",
        const="toml",
        choices=("toml", "json"),
        help="print the merged config (preset < --config file < flags) as TOML (default) or "
        "JSON, and exit without training",
    )
    p.set_defaults(func=cmd_train, config_flags=flags)


DEFAULT_PRESET = "vae-123"
# Flags whose own help already says what their default is.
DEFAULT_IN_HELP = {("model", "channels"), ("train", "epochs")}


def show_defaults(p: argparse.ArgumentParser, flags: dict[str, tuple[str, ...]]) -> None:
    """Each flag's help ends with its default: the default preset's value where a preset sets
    the option (``default: vae-123's 1``), else the config's own."""
    base = config_from_preset(DEFAULT_PRESET).to_dict()
    for action in p._actions:
        path = flags.get(action.dest)
        if path is None or path in DEFAULT_IN_HELP:
            continue
        value = _lookup(base, path)
        if value is None and "default" in (action.help or ""):
            continue  # the help says what an unset option means
        if any(_lookup(preset, path) is not None for preset in PRESETS.values()):
            text = f"default: {DEFAULT_PRESET}'s {_shown(value)}; each --preset sets its own"
        else:
            text = f"default: {_shown(value)}"
        text = text.replace("%", "%%")
        action.help = f"{action.help}; {text}" if action.help else text


def _lookup(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(values, dict):
            return None
        values = values.get(key)
    return values


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "none"
    return str(value)


def register_train_classifier(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("train-classifier", help="train the small classifier loss network")
    p.add_argument("--out", required=True, help="output folder for the classifier")
    flags = add_flags(p, DataConfig, ("data",), defaults=True, skip=("crop", "labels_file"))
    flags |= add_flags(p, ClassifierTrainConfig, defaults=True)
    p.add_argument("--force", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train_classifier, config_flags=flags)
