"""Options declared once: ``option`` fields carry their command-line flag, help, choices and
bounds; from them this module builds argparse flags, reads TOML or JSON config files, merges and
type-checks config dicts. ``TrainConfig`` lives here because it needs nothing else; the model's,
the loss's and the data's configs sit beside the code that uses them, and ``RunConfig``
(``dfcvae.vae.run_config``) puts the four together.

This module imports nothing from dfcvae but ``dfcvae.errors``.
"""

from __future__ import annotations

import argparse
import json
import math
import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
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
MAX_SEED = 2**32 - 1  # numpy's and Lightning's seeds are 32-bit
DEFAULT_EPOCHS = 5  # the paper's


@dataclass(frozen=True)
class Range:
    """The numbers an option may take: NaN and the infinities never; ``at_least``/``above`` and
    ``at_most``/``below`` its closed or open ends; ``also``: values allowed outside them (-1 for
    "no limit"). Declared once per option, on its config field or its command-line flag, and
    enforced for flags and config files alike."""

    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    below: float | None = None
    also: tuple[float, ...] = ()

    def contains(self, value: float) -> bool:
        if value in self.also:
            return True
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return not (
            (self.at_least is not None and value < self.at_least)
            or (self.above is not None and value <= self.above)
            or (self.at_most is not None and value > self.at_most)
            or (self.below is not None and value >= self.below)
        )

    @property
    def bounded(self) -> bool:
        return any(end is not None for end in (self.at_least, self.above, self.at_most, self.below))

    def describe(self, integer: bool) -> str:
        """ "in 1..1,024", "at least 1", "a finite number > 0", "a finite number in [0, 1)",
        "-1 or in 1..1,000"."""
        low = self.at_least if self.at_least is not None else self.above
        high = self.at_most if self.at_most is not None else self.below
        if integer and self.above is None and self.below is None and self.bounded:
            if low is not None and high is not None:
                text = f"in {low:,}..{high:,}"
            else:
                text = f"at least {low:,}" if low is not None else f"at most {high:,}"
        elif low is not None and high is not None:
            opening = "[" if self.at_least is not None else "("
            closing = "]" if self.at_most is not None else ")"
            text = f"a finite number in {opening}{low:g}, {high:g}{closing}"
        elif low is not None:
            text = f"a finite number {'>=' if self.at_least is not None else '>'} {low:g}"
        elif high is not None:
            text = f"a finite number {'<=' if self.at_most is not None else '<'} {high:g}"
        else:
            text = "an integer" if integer else "a finite number"
        also = " or ".join(f"{v:g}" for v in self.also)
        return f"{also} or {text}" if also else text

    def check(self, value: Any, name: str, integer: bool) -> None:
        """One line, ``NAME VALUE: must be ...``, when ``value`` (a number or a list of them)
        lies outside."""
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, int | float) and not isinstance(item, bool):
                if not self.contains(item):
                    raise ConfigError(f"{name} {_show(value)}: must be {self.describe(integer)}")


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) and abs(value) < 1e16 else str(value)


def option(
    default: Any = MISSING,
    *,
    help: str | None = None,
    flag: str | None = None,
    cli: bool = True,
    choices: tuple | None = None,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
    also: tuple[float, ...] = (),
    factory: Any = None,
) -> Any:
    """A dataclass field that is also a command-line flag (``--field-name`` unless ``flag``;
    none with ``cli=False``). Its bounds (``Range``) hold for the flag, config files and
    ``validate`` alike, and ``--help`` shows them."""
    bounds = Range(at_least, above, at_most, below, also)
    metadata: dict[str, Any] = {"help": help, "choices": choices, "range": bounds}
    if cli:
        metadata["flag"] = flag
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def flag_name(f: Any) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def field_types(klass: type) -> dict[str, Any]:
    """Each field's type as a type object (``typing.get_type_hints``), not its annotation string:
    ``float | None``, ``Optional[int]``, ``Literal["a", "b"]``, ``Path``, ``tuple[int, ...]``."""
    return typing.get_type_hints(klass)


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
    (else None, so an unset flag leaves a preset's or a file's value alone). A boolean field
    gets ``--name`` and ``--no-name``."""
    instance = klass() if defaults else None
    hints = field_types(klass)
    flags: dict[str, tuple[str, ...]] = {}
    for f in fields(klass):
        if "flag" not in f.metadata or f.name in skip:
            continue
        kind = _argparse_kind(hints[f.name])
        if f.metadata["choices"] is not None:
            kind["choices"] = f.metadata["choices"]
        help = f.metadata["help"]
        if kind.get("type") in (int, float) or _is_number_list(hints[f.name]):
            bounds = f.metadata["range"].describe(integer=_is_integer(hints[f.name]))
            help = f"{help} ({bounds})" if help else bounds
        default = getattr(instance, f.name) if instance is not None else None
        action = parser.add_argument(flag_name(f), help=help, default=default, **kind)
        flags[action.dest] = (*path, f.name)
    return flags


def _without_none(annotation: Any) -> Any:
    """``X | None`` and ``Optional[X]`` -> ``X``; anything else as it is."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _is_number_list(annotation: Any) -> bool:
    base = _without_none(annotation)
    return typing.get_origin(base) in (list, tuple) and typing.get_args(base)[0] in (int, float)


def _argparse_kind(annotation: Any) -> dict[str, Any]:
    base = _without_none(annotation)
    if base is bool:
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(base) is typing.Literal:
        return {"choices": typing.get_args(base)}
    if typing.get_origin(base) in (list, tuple):
        return {"type": _comma_list(typing.get_args(base)[0])}
    if base in (int, float):
        return {"type": base}
    return {"type": base if base is Path else None}  # None: argparse keeps the string


def _comma_list(item: Any) -> Any:
    """``a,b,c`` -> a list of ``item`` (str, int or float)."""

    def parse(text: str) -> list:
        return [item(part) for part in text.split(",")] if item in (int, float) else text.split(",")

    parse.__name__ = f"comma-separated {getattr(item, '__name__', 'str')}"
    return parse


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


def check_fields(config: Any, section: str = "") -> None:
    """One line naming the flag (or ``section.field`` for a field without one) whose value lies
    outside its field's ``Range``: NaN, an infinity, or a number out of bounds."""
    hints = field_types(type(config))
    for f in fields(config):
        bounds = f.metadata.get("range")
        if bounds is None:
            continue
        name = flag_name(f) if "flag" in f.metadata else f"{section}.{f.name}".lstrip(".")
        bounds.check(getattr(config, f.name), name, integer=_is_integer(hints[f.name]))


def _is_integer(annotation: Any) -> bool:
    base = _without_none(annotation)
    if typing.get_origin(base) in (list, tuple):
        base = typing.get_args(base)[0]
    return base is int


@dataclass
class TrainConfig:
    """Paper defaults: Adam, lr 5e-4, beta1 0.5 (as in the original code), batch 64 and 5 epochs
    (the paper's; the released script ``main_cvae_content.lua`` uses batch 40 and 10 epochs)."""

    epochs: int | None = option(
        None,
        at_least=1,
        at_most=MAX_EPOCHS,
        help=f"epochs to train (default: {DEFAULT_EPOCHS}, or no limit when --max-steps is set)",
    )
    max_steps: int = option(
        -1,
        at_least=1,
        at_most=MAX_STEPS,
        also=(-1,),
        help="optimizer steps to train; with --epochs, whichever ends first (-1: no limit)",
    )
    batch_size: int = option(64, at_least=1, at_most=MAX_BATCH_SIZE, help="images per step")
    lr: float = option(5e-4, above=0, at_most=1, help="Adam's learning rate")
    beta1: float = option(0.5, cli=False, at_least=0, below=1)
    beta2: float = option(0.999, cli=False, at_least=0, below=1)
    seed: int = option(0, at_least=0, at_most=MAX_SEED, help="weights, data order and z")
    precision: str = option("auto", help="auto, 32-true, bf16-mixed, 16-mixed")
    accelerator: str = option("auto", help="auto, cpu or gpu")
    devices: str = option("auto", help="auto, a count, or a list like 0,1")
    strategy: str = option("auto", help="auto, ddp, ddp_spawn, ...")
    num_nodes: int = option(1, at_least=1, at_most=MAX_NODES, help="machines (with --strategy ddp)")
    gradient_clip: float | None = option(None, above=0, help="clip the gradients' norm to this")
    checkpoint_every_n_steps: int | None = option(
        None,
        at_least=1,
        at_most=MAX_STEPS,
        help="also checkpoint every N steps (default: once per epoch only)",
    )
    log_every_n_steps: int = option(
        10, at_least=1, at_most=MAX_STEPS, help="log the training losses every N steps"
    )
    val_batches: int | None = option(
        None,
        help="validation batches per epoch (0: none; default: all)",
        at_least=0,
        at_most=MAX_STEPS,
    )
    tensorboard_images_every: int = option(
        500,
        at_least=0,
        at_most=MAX_STEPS,
        help="reconstructions and samples in TensorBoard every N steps, and the latent codes "
        "for its projector at the end (0: none)",
    )
    deterministic: bool = option(False, help="deterministic algorithms only (slower)")
    compile: bool = option(False, cli=False)

    def epoch_limit(self) -> int:
        """Lightning's ``max_epochs``: ``epochs``; unset, no limit when ``max_steps`` bounds the
        run, else ``DEFAULT_EPOCHS``."""
        if self.epochs is not None:
            return self.epochs
        return -1 if self.max_steps > 0 else DEFAULT_EPOCHS

    def validate(self) -> None:
        check_fields(self, "train")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"--precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}"
            )


def dataclass_from_dict(
    klass: type, values: dict[str, Any], where: str, *, ranges: bool = False
) -> Any:
    """``klass(**values)``, refusing unknown keys and values of the wrong type in one line
    naming ``where`` and the key; ranges: numbers outside a field's ``Range`` too (for a config
    file; merged configs are range-checked by ``validate``, which names the flag)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a table of options")
    hints = field_types(klass)
    bounds = {f.name: f.metadata.get("range") for f in fields(klass)}
    unknown = set(values) - set(hints)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {sorted(unknown)}; valid: {sorted(hints)}")
    converted = {}
    for name, value in values.items():
        if not has_type(value, hints[name]):
            raise ConfigError(f"{where}: {name} = {value!r} must be {_type_name(hints[name])}")
        if ranges and bounds[name] is not None:
            bounds[name].check(value, f"{where}: {name} =", integer=_is_integer(hints[name]))
        converted[name] = _convert(value, hints[name])
    return klass(**converted)


def has_type(value: Any, annotation: Any) -> bool:
    """Whether ``value`` (from TOML, JSON or the CLI) fits a field's type: ``int``,
    ``float | None``, ``list[str]``, ``tuple[int, ...]``, ``Literal[...]``, ``Path`` (a string
    in a file), a nested dataclass (a table); an int is a float, a bool is not a number."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(has_type(value, member) for member in typing.get_args(annotation))
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in arguments)
    if origin in (list, tuple):
        return isinstance(value, list | tuple) and all(has_type(v, arguments[0]) for v in value)
    if annotation in (int, float):
        number = isinstance(value, int) or (annotation is float and isinstance(value, float))
        return number and not isinstance(value, bool)
    if annotation is Path:
        return isinstance(value, str | Path)
    if is_dataclass(annotation):
        return isinstance(value, dict | annotation)
    return annotation is Any or (isinstance(annotation, type) and type(value) is annotation)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _convert(value: Any, annotation: Any) -> Any:
    """A file's string as a ``Path``, a list as a ``tuple``, as the field's type says."""
    base = _without_none(annotation)
    if value is None:
        return None
    if base is Path:
        return Path(value)
    if typing.get_origin(base) is tuple:
        return tuple(value)
    return value


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


def to_toml(values: dict[str, Any]) -> str:
    """A config dict (top-level scalars, then one table per section) as TOML that
    ``read_config_file`` reads back; None, which TOML cannot hold, as a comment."""

    def line(key: str, value: Any) -> str:
        return f"# {key} unset" if value is None else f"{key} = {_toml_value(value)}"

    scalars = [line(k, v) for k, v in values.items() if not isinstance(v, dict)]
    tables = [
        "\n".join([f"[{k}]", *(line(key, item) for key, item in v.items())])
        for k, v in values.items()
        if isinstance(v, dict)
    ]
    return "\n\n".join(part for part in ["\n".join(scalars), *tables] if part) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string: JSON's escapes are TOML's
