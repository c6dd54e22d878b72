"""Every option of every command, fed arbitrary values: the command either goes on or stops with
exactly one line (exit status 2), never a traceback.

The option lists come from the parser itself (argparse's subparsers), so a new option is covered
without touching this file. Commands run in process through ``dfcvae.cli.main``. Where the
values pass validation the command goes on; it then stops at a run directory that does not
exist (with its own one line), or, for ``train``, ``train-classifier`` and ``demo``, at the
moment it would claim its output folder (patched here to stop: valid options would otherwise
start training).

Config files get the same treatment: a TOML file of arbitrary keys and values is refused in one
line naming the file and the key, or accepted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

import dfcvae.demo
import dfcvae.training.classifier
import dfcvae.training.trainer
from dfcvae.analysis import linear_svm
from dfcvae.cli import build_parser, main
from dfcvae.vae.run_config import SECTIONS

WORK = Path(tempfile.mkdtemp(prefix="dfcvae-fuzz-"))
MISSING_RUN = str(WORK / "no-such-run")


class Reached(Exception):
    """Raised where a command with valid options would claim its output folder."""


def stop(*args, **kwargs):
    raise Reached


@contextlib.contextmanager
def stopped_before_any_work() -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(dfcvae.training.trainer, "prepare_run_dir", stop))
        stack.enter_context(mock.patch.object(dfcvae.training.classifier, "prepare_run_dir", stop))
        stack.enter_context(mock.patch.object(dfcvae.demo, "prepare_out", stop))
        yield


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


COMMANDS = subcommands()


def options_of(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if a.option_strings and not isinstance(a, argparse._HelpAction) and not a.required
    ]


def required_argv(name: str, parser: argparse.ArgumentParser) -> list[str]:
    """What a command needs to get past argparse: a (missing) run for each positional, a fresh
    output folder for a required --out, an attribute for edit."""
    argv = []
    for action in parser._actions:
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction):
            argv += [MISSING_RUN] * (2 if action.nargs == "+" and name == "evaluate" else 1)
        elif action.required or (name == "train" and action.dest == "out"):
            # train's --out is optional only for --print-config
            value = str(WORK / "out") if action.dest == "out" else "Smiling"
            argv += [action.option_strings[0], value]
    return argv


TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10
)
INTEGERS = st.one_of(
    st.integers(-3, 70), st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 2**31, 2**32])
)
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 1e300, float("nan"), float("inf"), -float("inf")]),
    st.floats(-3, 3),
)


def number_text(kind: type) -> st.SearchStrategy[str]:
    numbers = INTEGERS.map(str) if kind is int else FLOATS.map(repr)
    junk = st.sampled_from(
        ["nan", "inf", "-inf", "1e999", "0x10", "1_000", "", " 1", "one", "9" * 400, "-9" * 200]
    )
    return st.one_of(numbers, numbers, junk, TEXT)


def value_text(action: argparse.Action) -> st.SearchStrategy[str]:
    """A value for one option: one of its choices, a number of its type, or any text."""
    if action.choices:
        return st.one_of(st.sampled_from([str(c) for c in action.choices]), TEXT)
    if action.type in (int, float):
        return number_text(action.type)
    lists = st.lists(st.one_of(FLOATS.map(repr), INTEGERS.map(str), TEXT), min_size=0, max_size=4)
    return st.one_of(TEXT, FLOATS.map(repr), INTEGERS.map(str), lists.map(",".join))


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[str, list[str]]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    parser = COMMANDS[name]
    argv = [name, *required_argv(name, parser)]
    actions = options_of(parser)
    chosen = draw(st.lists(st.sampled_from(actions), max_size=4, unique_by=id)) if actions else []
    for action in chosen:
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(flag)
        elif action.nargs == "+":
            argv += [flag, *draw(st.lists(value_text(action), min_size=1, max_size=2))]
        else:  # --flag=VALUE, so that a value starting with '-' stays a value
            argv.append(f"{flag}={draw(value_text(action))}")
    return name, argv


def run_cli(argv: list[str]) -> tuple[str, int | None, list[str]]:
    """(outcome, exit status, stderr lines): outcome 'exit' (returned or SystemExit) or
    'reached' (valid options got as far as claiming the output folder)."""
    err, out = io.StringIO(), io.StringIO()
    quiet, stopped = contextlib.redirect_stdout(out), stopped_before_any_work()
    with contextlib.redirect_stderr(err), quiet, warnings.catch_warnings(), stopped:
        warnings.simplefilter("ignore")  # the CLI prints its own warnings as lines
        try:
            code = main(argv)
            outcome = "exit"
        except SystemExit as exit_:
            code, outcome = exit_.code, "exit"
        except Reached:
            code, outcome = None, "reached"
    return outcome, code, err.getvalue().splitlines()


def assert_one_line_or_success(name: str, outcome: str, code, lines: list[str]) -> None:
    """No traceback; a refusal is exit status 2 and one error line, the last (progress notes
    such as "attribute vectors: computing them ..." and warning lines may come before it)."""
    assert not any("Traceback" in line or line.startswith("  File ") for line in lines), lines
    errors = [line for line in lines if "error" in line.lower()]
    if outcome == "reached" or code == 0:
        assert errors == [], errors
        return
    assert code == 2, (code, lines)
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    assert errors[0].startswith(f"dfcvae {name}: error: "), errors


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(command_lines())
def test_any_value_of_any_option_is_accepted_or_refused_in_one_line(line) -> None:
    name, argv = line
    outcome, code, lines = run_cli(argv)
    event(f"{name}: {outcome} {code}")
    assert_one_line_or_success(name, outcome, code, lines)


def test_the_walk_covers_every_command_and_numeric_option() -> None:
    """The fuzzing above sees every command, and every number option of each has bounds that
    --help shows (a new option without them fails here)."""
    assert {"train", "train-classifier", "reconstruct", "sample", "interpolate",
            "attribute-vectors", "edit", "predict-attributes", "tsne", "attribute-correlation",
            "evaluate", "report", "demo", "explore", "weights"} <= set(COMMANDS)  # fmt: skip
    for name, parser in COMMANDS.items():
        for action in options_of(parser):
            if action.type in (int, float) and not action.choices:
                assert action.help and ("in " in action.help or "at " in action.help or
                                        "number" in action.help), (name, action.dest)  # fmt: skip


# Every number option with a value outside its range, NaN or an infinity: refused by name.
BAD_NUMBERS = [
    ("train", "--lr", "nan"), ("train", "--lr", "0"), ("train", "--lr", "-1e-3"),
    ("train", "--lr", "inf"), ("train", "--kl-weight", "-1"), ("train", "--kl-weight", "nan"),
    ("train", "--recon-weight", "-0.5"), ("train", "--feature-scale", "0"),
    ("train", "--gradient-clip", "0"), ("train", "--gradient-clip", "inf"),
    ("train", "--gradient-clip", "nan"), ("train", "--batch-size", "0"),
    ("train", "--latent-dim", "0"), ("train", "--seed", "4294967296"),
    ("train", "--max-steps", "-2"), ("train", "--val-batches", "-1"),
    ("train", "--num-workers", "-1"), ("train", "--limit", "0"),
    ("train-classifier", "--lr", "nan"), ("train-classifier", "--image-size", "0"),
    ("train-classifier", "--batch-size", "-5"), ("train-classifier", "--seed", "-1"),
    ("sample", "--temperature", "0"), ("sample", "--temperature", "-1"),
    ("sample", "--temperature", "nan"), ("sample", "--temperature", "inf"),
    ("interpolate", "--temperature", "0"), ("evaluate", "--temperature", "-0.0"),
    ("report", "--temperature", "nan"), ("tsne", "--perplexity", "0"),
    ("tsne", "--perplexity", "-30"), ("tsne", "--perplexity", "nan"),
    ("predict-attributes", "--cs", "0"), ("predict-attributes", "--cs", "1,-1"),
    ("predict-attributes", "--cs", "nan"), ("predict-attributes", "--cs", "1,inf"),
    ("predict-attributes", "--cs", ","), ("edit", "--strength", "nan..2"),
    ("edit", "--strength", "-inf..2"), ("edit", "--strength", "1e9"),
    ("edit", "--strength", ""), ("sample", "--seed", "-1"), ("reconstruct", "--n", "0"),
    ("explore", "--port", "-1"), ("demo", "--steps", "0"), ("tsne", "--n", "2"),
    ("report", "--n-tsne", "1"),
]  # fmt: skip


@pytest.mark.parametrize("name, flag, value", BAD_NUMBERS)
def test_out_of_range_and_non_finite_numbers_are_refused_naming_option_and_range(
    name, flag, value
) -> None:
    argv = [name, *required_argv(name, COMMANDS[name]), f"{flag}={value}"]
    outcome, code, lines = run_cli(argv)
    assert outcome == "exit" and code == 2, (outcome, lines)
    assert len(lines) == 1 and lines[0].startswith(f"dfcvae {name}: error: {flag} "), lines
    assert "must be" in lines[0] or "give numbers" in lines[0] or "use MIN..MAX" in lines[0]


def test_a_value_in_range_goes_on() -> None:
    assert run_cli(["train", "--out", str(WORK / "r"), "--preset", "pvae", "--lr=1e-3",
                    "--gradient-clip=0.5", "--kl-weight=0"])[0] == "reached"  # fmt: skip
    outcome, code, lines = run_cli(["sample", MISSING_RUN, "--temperature=0.4", "--seed=7"])
    assert code == 2 and "no such run directory" in lines[0]


# Config files: TOML written here from arbitrary keys and values.
def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if (
            math.isinf(value)) else repr(value)  # fmt: skip
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


FIELD_NAMES = {name: [f for f in klass.__dataclass_fields__] for name, klass in SECTIONS.items()}
TOML_SCALARS = st.one_of(
    st.booleans(), INTEGERS.filter(lambda v: abs(v) < 2**63), FLOATS, TEXT
)  # fmt: skip
TOML_VALUES = st.one_of(TOML_SCALARS, st.lists(TOML_SCALARS, max_size=3))


@st.composite
def config_files(draw: st.DrawFn) -> dict[str, dict]:
    tables: dict[str, dict] = {}
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from([*SECTIONS, "extra"]))
        key = draw(st.one_of(st.sampled_from(FIELD_NAMES.get(section, ["x"])), st.just("bogus")))
        tables.setdefault(section, {})[key] = draw(TOML_VALUES)
    return tables


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(config_files())
def test_any_config_file_is_accepted_or_refused_in_one_line_naming_file_and_key(tables) -> None:
    path = WORK / "fuzz.toml"
    path.write_text(
        "".join(
            f"[{section}]\n" + "".join(f"{key} = {toml_value(v)}\n" for key, v in keys.items())
            for section, keys in tables.items()
        )
    )
    outcome, code, lines = run_cli(
        ["train", "--out", str(WORK / "out"), "--config", str(path), "--preset", "pvae"]
    )
    event(f"{outcome} {code}")
    assert_one_line_or_success("train", outcome, code, lines)
    if outcome == "exit" and f"--config {path}" not in lines[0]:
        # Past the file's own checks: an error of the merged config (a cross-field one such as
        # a data set that needs --data-root, or the loss network's weights).
        event("merged-config error")


@pytest.mark.parametrize(
    "text, named",
    [
        ("[train]\nlr = nan\n", "[train]: lr = nan: must be a finite number in (0, 1]"),
        ("[train]\nlr = -1\n", "[train]: lr = -1: must be a finite number in (0, 1]"),
        ("[loss]\nkl_weight = -inf\n", "[loss]: kl_weight = -inf: must be a finite number >= 0"),
        ("[loss]\nlayer_weights = [1.0, -2.0]\n", "layer_weights = [1, -2]: must be a finite"),
        ("[model]\nlatent_dim = 0\n", "[model]: latent_dim = 0: must be in 1..65,536"),
        ("[train]\nbeta1 = 1.0\n", "[train]: beta1 = 1: must be a finite number in [0, 1)"),
        ("[data]\nlimit = 0\n", "[data]: limit = 0: must be in 1..1,000,000,000"),
        ("[train]\nseed = 99999999999\n", "[train]: seed = 99999999999: must be in 0.."),
        ("[model]\ndecoder_relu = 1\n", "[model]: decoder_relu = 1 must be bool"),
        ("[train]\nmax_steps = 0\n", "max_steps = 0: must be -1 or in 1..1,000,000,000"),
    ],
)
def test_a_bad_value_in_a_config_file_names_the_file_and_the_key(text, named) -> None:
    path = WORK / "bad.toml"
    path.write_text(text)
    outcome, code, lines = run_cli(["train", "--out", str(WORK / "out"), "--config", str(path)])
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"dfcvae train: error: --config {path} ") and named in lines[0]


def test_a_svm_that_stops_before_converging_says_so_in_one_line(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    x = linear_svm.with_bias(rng.normal(size=(200, 5)))
    y = np.where(x[:, 0] + 0.3 * rng.normal(size=200) > 0, 1.0, -1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        linear_svm.squared_hinge_path(x, y, [0.1, 10.0])
    assert caught == []  # converges well within the limit
    monkeypatch.setattr(linear_svm, "MAX_NEWTON_STEPS", 1)
    with pytest.warns(RuntimeWarning, match=r"^the linear SVM at C=0\.1 stopped after 1 Newton"):
        weights = linear_svm.squared_hinge_path(x, y, [0.1])
    assert np.isfinite(weights[0]).all()


# The analysis commands on a real run: values that pass the checks must work on a model and data.
RUN_COMMANDS = ["reconstruct", "sample", "interpolate", "attribute-vectors", "edit",
                "predict-attributes", "tsne", "attribute-correlation"]  # fmt: skip


@pytest.fixture(scope="module")
def labelled_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PVAE trained 2 steps on 60 generated 32-pixel images with two attributes."""
    root = tmp_path_factory.mktemp("fuzz-run")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    rows = ["path,Smiling,Hat"]
    for i in range(60):
        coarse = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((32, 32), Image.BILINEAR).save(images / f"{i:03d}.png")
        rows.append(f"{i:03d}.png,{i % 2},{int(i % 3 == 0)}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    run = root / "run"
    code = main(["train", "--preset", "pvae", "--out", str(run), "--dataset", "folder",
                 "--data-root", str(images), "--labels-file", str(root / "labels.csv"),
                 "--cache-dir", str(root / "cache"), "--image-size", "32", "--latent-dim", "4",
                 "--batch-size", "4", "--max-steps", "2", "--val-batches", "0",
                 "--precision", "32-true", "--accelerator", "cpu", "--quiet"])  # fmt: skip
    assert code == 0
    return run


@st.composite
def run_command_lines(draw: st.DrawFn, run: Path) -> tuple[str, list[str]]:
    name = draw(st.sampled_from(RUN_COMMANDS))
    parser = COMMANDS[name]
    argv = [name, str(run)]
    if name == "edit":
        argv += ["--attribute", draw(st.sampled_from(["Smiling", "Hat", "Bald", ""]))]
    actions = [a for a in options_of(parser) if a.dest not in ("out", "quiet")]
    for action in draw(st.lists(st.sampled_from(actions), max_size=3, unique_by=id)):
        flag = action.option_strings[0]
        if action.nargs == 0:
            argv.append(flag)
        elif action.nargs == "+":
            values = st.one_of(st.sampled_from(["0", "1", "5", "-1", "99999"]), value_text(action))
            argv += [flag, *draw(st.lists(values, min_size=1, max_size=2))]
        else:
            argv.append(f"{flag}={draw(value_text(action))}")
    out = draw(st.sampled_from(["", str(run.parent / "out.png"), str(run.parent)]))
    return name, argv + ([f"--out={out}"] if out else [])


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_analysis_options_on_a_real_run_work_or_are_refused_in_one_line(
    labelled_run: Path, data
) -> None:
    name, argv = data.draw(run_command_lines(labelled_run))
    outcome, code, lines = run_cli([*argv, "--quiet"])
    event(f"{name}: {outcome} {code}")
    assert_one_line_or_success(name, outcome, code, lines)
