"""Help and messages that are true: a fast ``dfcvae --help`` (no torch), every train flag with
its default, ``--print-config``, the defaults of ``--channels`` and ``--epochs``, hints that name
options the command has, our own lines for a bad ``--devices`` or ``--strategy``, ``--device
auto`` for the analysis commands, and no run directory left behind by a failed training."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import dfcvae
from dfcvae.cli import ALL, COMMANDS, build_parser, main
from dfcvae.config import TrainConfig
from dfcvae.errors import ConfigError, DFCVAEError, RunDirError
from dfcvae.training.run_dir import removed_on_failure
from dfcvae.vae.presets import config_from_preset
from dfcvae.vae.run_config import RunConfig


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- dfcvae --help without torch --------------------------------------------------------------


def test_top_level_help_lists_every_command_without_importing_torch() -> None:
    code = (
        "import sys\n"
        "from dfcvae.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'lightning') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "HEAVY []" in result.stdout, result.stdout
    for name in COMMANDS:
        assert name in result.stdout


def test_import_dfcvae_is_lazy_and_every_public_name_imports() -> None:
    code = (
        "import sys, dfcvae\n"
        "print('TORCH', 'torch' in sys.modules)\n"
        "from dfcvae import DFCVAE, train, PerceptualLoss\n"
        "print('NAMES', all(getattr(dfcvae, n) is not None for n in dfcvae.__all__))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert "TORCH False" in result.stdout and "NAMES True" in result.stdout, result.stdout
    assert dfcvae.__all__ == sorted(dfcvae._EXPORTS)
    with pytest.raises(AttributeError):
        dfcvae.no_such_name  # noqa: B018


def test_the_command_table_matches_each_commands_own_help() -> None:
    full = build_parser(ALL)
    (action,) = [a for a in full._actions if isinstance(a, argparse._SubParsersAction)]
    registered = {choice.dest: choice.help for choice in action._choices_actions}
    assert registered == {name: help for name, (_, help) in COMMANDS.items()}


def test_a_chosen_command_gets_all_its_options_and_the_others_none() -> None:
    parsers = subcommands(build_parser("train"))
    assert "--lr" in parsers["train"]._option_string_actions
    assert "--n" not in parsers["reconstruct"]._option_string_actions
    assert "--n" in subcommands(build_parser(ALL))["reconstruct"]._option_string_actions


# --- train --help and --print-config ----------------------------------------------------------


def test_every_train_flag_has_help_and_every_config_flag_its_default() -> None:
    parser = subcommands(build_parser("train"))["train"]
    config_flags = parser.get_default("config_flags")
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, action.option_strings
        if action.dest in config_flags:
            assert "default" in action.help, action.option_strings
    helps = {a.dest: a.help for a in parser._actions}
    assert "default: vae-123's vgg19" in helps["loss_network"]
    assert "default: 0.0005" in helps["lr"]


@pytest.mark.parametrize("form", ["toml", "json"])
def test_print_config_prints_the_merged_config_and_trains_nothing(
    capsys, tmp_path: Path, form: str
) -> None:
    config_file = tmp_path / "c.toml"
    config_file.write_text('preset = "vae-345"\n[train]\nbatch_size = 16\n')
    code, out, _ = run_cli(
        capsys, "train", "--config", str(config_file), "--lr", "0.001", "--print-config", form
    )
    assert code == 0
    values = json.loads(out) if form == "json" else tomllib.loads(out)
    config = RunConfig.from_dict(values)
    assert config.preset == "vae-345" and config.loss.layers[0] == "relu3_1"
    assert (config.train.batch_size, config.train.lr) == (16, 0.001)
    assert not any(tmp_path.glob("*/config.json"))


def test_train_without_out_is_one_line(capsys) -> None:
    code, _, err = run_cli(capsys, "train")
    assert code == 2 and "--out" in one_line(err)


# --- --channels and --epochs ------------------------------------------------------------------


def test_channels_default_to_the_data_sets_own() -> None:
    assert config_from_preset("pvae", {"data": {"dataset": "fashion-mnist"}}).model.channels == 1
    assert config_from_preset("pvae", {"data": {"dataset": "cifar10"}}).model.channels == 3
    given = {"data": {"dataset": "fashion-mnist"}, "model": {"channels": 3}}
    assert config_from_preset("pvae", given).model.channels == 3


def test_max_steps_alone_bounds_training_and_epochs_default_to_five() -> None:
    assert TrainConfig(max_steps=20).epoch_limit() == -1
    assert TrainConfig().epoch_limit() == 5
    assert TrainConfig(max_steps=20, epochs=2).epoch_limit() == 2


def test_the_trainer_gets_no_epoch_limit_with_max_steps_alone(tmp_path: Path) -> None:
    from dfcvae.training.trainer import build_trainer

    config = config_from_preset("pvae", {"train": {"max_steps": 20, "accelerator": "cpu"}})
    trainer = build_trainer(config, tmp_path, progress=False)
    assert (trainer.max_epochs, trainer.max_steps) == (-1, 20)


# --- Hints name options the command has -------------------------------------------------------


def test_evaluates_classifier_space_names_classifier_not_loss_weights() -> None:
    from dfcvae.analysis.feature_spaces import FeatureSpaceUnavailable, pooled_space

    with pytest.raises(FeatureSpaceUnavailable) as error:
        pooled_space("classifier", None)
    assert "--classifier" in str(error.value) and "--loss-weights" not in str(error.value)


def test_weights_download_hint_names_loss_weights_only_where_the_command_has_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dfcvae.loss_networks.weights import WeightSource, download_weights, resolve_weights

    monkeypatch.setenv("DFCVAE_OFFLINE", "1")
    source = WeightSource(filename="not-here-1234.pth", url="https://example.invalid/x.pth")
    with pytest.raises(DFCVAEError) as analysis:
        download_weights(source)  # evaluate's feature spaces and LPIPS, the demo
    assert "--loss-weights" not in str(analysis.value) and "not-here-1234.pth" in str(
        analysis.value
    )
    with pytest.raises(DFCVAEError) as training:
        resolve_weights(source, None)  # a loss network for train
    assert "pass --loss-weights PATH" in str(training.value)


def test_missing_labels_hint_names_the_train_option_not_the_analysis_command() -> None:
    from types import SimpleNamespace

    from dfcvae.analysis.attributes import binary_labels

    unlabelled = SimpleNamespace(labels=None, label_kind=None, name="folder")
    with pytest.raises(DFCVAEError) as error:
        binary_labels(unlabelled)
    assert "`dfcvae train --labels-file CSV`" in str(error.value)


def every_help_text(parser: argparse.ArgumentParser, command: str = "dfcvae") -> dict[str, str]:
    """Each description, epilog, option help and command summary of ``parser`` and its
    subcommands, by where it shows."""
    texts = {f"{command} description": parser.description, f"{command} epilog": parser.epilog}
    for action in parser._actions:
        texts[f"{command} {'/'.join(action.option_strings) or action.dest}"] = action.help
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                texts[f"{command} {choice.dest} summary"] = choice.help
            for name, sub in action.choices.items():
                texts |= every_help_text(sub, f"{command} {name}")
    return {where: str(text) for where, text in texts.items() if text}


def test_help_texts_are_self_contained_without_the_checkouts_docs() -> None:
    """A pip install has no docs/ folder: no help (nor the report's samples caption) sends the
    user there or to a Markdown file (the README.md that `export --format hub` writes is no
    pointer)."""
    import re

    from dfcvae.report.samples import CAPTION

    texts = every_help_text(build_parser(ALL))
    assert len(texts) > 100 and "dfcvae explore description" in texts
    texts["report samples caption"] = CAPTION
    pointer = re.compile(r"\bdocs\b|\b(?!README\.md)[\w.-]+\.md\b")
    assert {where: text for where, text in texts.items() if pointer.search(text)} == {}
    assert pointer.search("see docs/samples.md") and pointer.search("(explore.md)")


def test_python_train_on_an_existing_run_names_its_keyword(tmp_path: Path) -> None:
    from dfcvae.training.run_dir import prepare_run_dir

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RunDirError) as error:
        prepare_run_dir(tmp_path, resume=False, force=False)
    assert "resume=True" in str(error.value) and "force=True" in str(error.value)


# --- --devices, --strategy, --device ----------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value"), [("--devices", "x"), ("--devices", "1,a"), ("--strategy", "foo")]
)
def test_bad_devices_or_strategy_is_our_own_line_and_leaves_no_folder(
    capsys, tmp_path: Path, flag: str, value: str
) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", flag, value, "--out", str(out))
    line = one_line(err)
    assert code == 2 and line.startswith(f"dfcvae train: error: {flag} {value}:"), line
    assert "Accelerator" not in line and "lightning" not in line
    assert not out.exists()


def test_analysis_commands_default_to_device_auto() -> None:
    parser = build_parser(ALL)
    assert parser.parse_args(["reconstruct", "RUN"]).device == "auto"
    assert parser.parse_args(["evaluate", "RUN"]).device == "auto"
    assert parser.parse_args(["explore", "RUN"]).device == "auto"


# --- No run directory left behind -------------------------------------------------------------


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt])
def test_a_failed_run_removes_the_folder_it_made(tmp_path: Path, failure: type) -> None:
    out = tmp_path / "run"
    with pytest.raises(failure), removed_on_failure(out):
        (out / "logs").mkdir(parents=True)
        (out / "config.json").write_text("{}")
        raise failure
    assert not out.exists()


def test_a_failed_run_keeps_what_the_folder_held_before(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError), removed_on_failure(tmp_path):
        (tmp_path / "config.json").write_text("{}")
        (tmp_path / "tensorboard").mkdir()
        raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_failed_run_with_a_checkpoint_is_kept_for_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError), removed_on_failure(out):
        (out / "checkpoints").mkdir(parents=True)
        (out / "checkpoints" / "last.ckpt").write_bytes(b"x")
        (out / "config.json").write_text("{}")
        raise RuntimeError
    assert (out / "checkpoints" / "last.ckpt").is_file() and (out / "config.json").is_file()


def test_a_missing_data_root_leaves_no_run_directory(capsys, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli(
        capsys, "train", "--preset", "pvae", "--dataset", "folder",
        "--data-root", str(tmp_path / "nonexistent"), "--out", str(out),
    )  # fmt: skip
    assert code == 2 and "nonexistent" in one_line(err)
    assert not out.exists()


# --- Resume refusals that need no training ----------------------------------------------------


def fake_run(out: Path, preset: str = "vae-123") -> Path:
    out.mkdir(parents=True)
    config = config_from_preset(preset, {"data": {"dataset": "fashion-mnist"}})
    (out / "config.json").write_text(json.dumps(config.to_dict()))
    return out


def test_resume_with_another_preset_is_refused_in_one_line(capsys, tmp_path: Path) -> None:
    run = fake_run(tmp_path / "run")
    code, _, err = run_cli(capsys, "train", "--resume", "--preset", "vae-345", "--out", str(run))
    assert code == 2 and "--preset vae-123, not vae-345" in one_line(err)


def test_resume_with_another_architecture_is_refused_in_one_line(tmp_path: Path) -> None:
    from dfcvae.training.trainer import train

    run = fake_run(tmp_path / "run")
    changed = config_from_preset("vae-123", {"data": {"dataset": "fashion-mnist"}})
    changed.model.latent_dim = 50
    with pytest.raises(ConfigError, match="--latent-dim 100, not 50"):
        train(changed, run, resume=True, progress=False)


def test_an_out_under_a_file_keeps_its_own_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with (
        pytest.raises(RunDirError, match="not writable"),
        removed_on_failure(tmp_path / "a-file" / "run"),
    ):
        raise RunDirError("not writable")
