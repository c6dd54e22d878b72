"""Options declared once: ``option`` fields carry their command-line flag, help, choices and
bounds; from them this module builds argparse flags, reads TOML or JSON config files, merges and
type-checks config dicts. ``TrainConfig`` lives here because it needs nothing else; the model's,
the loss's and the data's configs sit beside the code that uses them, and ``RunConfig``
(``dfcvae.run_config``) puts the four together.

This module imports nothing from dfcvae but ``dfcvae.errors``.
"""

from __future__ import annotations

import argparse
import json
import math
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from dfcvae.errors import ConfigError

PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true")
# Upper bounds of counts: far above any real run, low enough that a typo fails in one line
# instead of exhausting memory.
MAX_STEPS = 10**9
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65_536
MAX_WORKERS = 256
MAX_NODES = 10_000


def option(
    default: Any = MISSING,
    *,
    help: str | None = None,
    flag: str | None = None,
    choices: tuple | None = None,
    max: int | None = None,
    factory: Any = None,
) -> Any:
    """A dataclass field that is also a command-line flag (``--field-name`` unless ``flag``);
    ``max`` is an upper bound that ``check_bounds`` enforces for flags and config files alike."""
    metadata = {"flag": flag, "help": help, "choices": choices, "max": max}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def flag_name(f: Any) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_flags(
    parser: argparse.ArgumentParser,
    klass: type,
    path: tuple[str, ...] = (),
    *,
    defaults: bool = False,
    skip: tuple[str, ...] = (),
) -> dict[str, tuple[str, ...]]:
    """One flag per ``option`` field of ``klass``, in field order; returns dest -> the keys that
    lead to the field in a config dict. defaults: the dataclass's defaults become the flags'
    (else None, so an unset flag leaves a preset's or a file's value alone)."""
    instance = klass() if defaults else None
    flags: dict[str, tuple[str, ...]] = {}
    for f in fields(klass):
        if "flag" not in f.metadata or f.name in skip:
            continue
        name = flag_name(f)
        kind = _argparse_kind(str(f.type))
        if f.metadata["choices"] is not None:
            kind["choices"] = f.metadata["choices"]
        help = f.metadata["help"]
        if f.metadata["max"] is not None:
            bound = f"at most {f.metadata['max']:,}"
            help = f"{help} ({bound})" if help else bound
        default = getattr(instance, f.name) if instance is not None else None
        action = parser.add_argument(name, help=help, default=default, **kind)
        flags[action.dest] = (*path, f.name)
    return flags


def _argparse_kind(annotation: str) -> dict[str, Any]:
    base = annotation.replace(" | None", "")
    if base == "bool":
        return {"action": "store_const", "const": True}
    if base == "list[str]":
        return {"type": _comma_list}
    return {"type": {"int": int, "float": float}.get(base)}  # None: argparse keeps the string


def _comma_list(text: str) -> list[str]:
    return text.split(",")


def flag_values(args: argparse.Namespace, flags: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """The flags that were given (not None), as a nested config dict."""
    values: dict[str, Any] = {}
    for dest, path in flags.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        table = values
        for key in path[:-1]:
            table = table.setdefault(key, {})
        table[path[-1]] = value
    return values


def check_bounds(config: Any) -> None:
    """One line naming the flag when a count is above its field's ``max``."""
    for f in fields(config):
        high, value = f.metadata.get("max"), getattr(config, f.name)
        if high is not None and isinstance(value, int | float) and value > high:
            raise ConfigError(f"{flag_name(f)} {value}: must be at most {high:,}")


@dataclass
class TrainConfig:
    """Paper defaults: Adam, lr 5e-4, beta1 0.5 (the original code), batch 64."""

    epochs: int = option(5, max=MAX_EPOCHS)
    max_steps: int = option(-1, max=MAX_STEPS)
    batch_size: int = option(64, max=MAX_BATCH_SIZE)
    lr: float = option(5e-4)
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = option(0)
    precision: str = option("auto", help="auto, 32-true, bf16-mixed, 16-mixed")
    accelerator: str = option("auto", help="auto, cpu or gpu")
    devices: str = option("auto", help="auto, a count, or a list like 0,1")
    strategy: str = option("auto", help="auto, ddp, ddp_spawn, ...")
    num_nodes: int = option(1, max=MAX_NODES)
    gradient_clip: float | None = option(None)
    checkpoint_every_n_steps: int | None = option(None, max=MAX_STEPS)
    log_every_n_steps: int = option(10, max=MAX_STEPS)
    val_batches: int | None = option(
        None, help="validation batches per epoch (0: none)", max=MAX_STEPS
    )
    deterministic: bool = option(False)
    compile: bool = False

    def validate(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"--epochs {self.epochs}: must be at least 1")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(
                f"--max-steps {self.max_steps}: must be positive (or -1 for no limit)"
            )
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size}: must be at least 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr {self.lr}: the learning rate must be a positive number")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"--seed {self.seed}: must lie in 0..{2**32 - 1}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("train.beta1 and train.beta2 must lie in [0, 1)")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"--precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}"
            )
        if self.num_nodes < 1:
            raise ConfigError(f"--num-nodes {self.num_nodes}: must be at least 1")
        if self.gradient_clip is not None and not self.gradient_clip > 0:
            raise ConfigError(f"--gradient-clip {self.gradient_clip}: must be positive")
        if self.checkpoint_every_n_steps is not None and self.checkpoint_every_n_steps < 1:
            raise ConfigError("--checkpoint-every-n-steps must be at least 1")
        if self.log_every_n_steps < 1:
            raise ConfigError(f"--log-every-n-steps {self.log_every_n_steps}: must be at least 1")
        if self.val_batches is not None and self.val_batches < 0:
            raise ConfigError(
                f"--val-batches {self.val_batches}: must be >= 0 (0 skips validation)"
            )
        check_bounds(self)


def dataclass_from_dict(klass: type, values: dict[str, Any], where: str) -> Any:
    """``klass(**values)``, refusing unknown keys and values of the wrong type in one line."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a table of options")
    types = {f.name: f.type for f in fields(klass)}
    unknown = set(values) - set(types)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {sorted(unknown)}; valid: {sorted(types)}")
    for name, value in values.items():
        if not _has_type(value, str(types[name])):
            raise ConfigError(f"{where}: {name} = {value!r} must be {types[name]}")
    return klass(**values)


def _has_type(value: Any, annotation: str) -> bool:
    """Whether ``value`` (from TOML, JSON or the CLI) fits a field annotation such as ``int``,
    ``float | None`` or ``list[str]``; an int is a float, a bool is not a number."""
    for option in annotation.split(" | "):
        if option == "None" and value is None:
            return True
        if option.startswith("list[") and isinstance(value, list):
            if all(_has_type(item, option[5:-1]) for item in value):
                return True
        if option in ("int", "float") and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option == "float" and isinstance(value, float):
            return True
        if option in ("str", "bool") and type(value).__name__ == option:
            return True
    return False


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON config file into a plain dict (one-line error if unreadable)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"--config {path}: cannot read it ({error.strerror})") from None
    try:
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(
            f"--config {path}: not valid {path.suffix[1:] or 'TOML'} ({error})"
        ) from None


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Nested dict update: ``override``'s leaves win."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
