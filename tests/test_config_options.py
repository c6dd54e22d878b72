"""Options declared once: the CLI flags come from the configs' field metadata, counts are bounded
in one line, and ``DataConfig`` builds its own data. That ``config.py`` stays a leaf is checked
with the import graph in test_architecture.py."""

from __future__ import annotations

import argparse
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import pytest

from dfcvae.cli import build_parser, main
from dfcvae.cli.train_commands import run_config_from_args
from dfcvae.config import TrainConfig, add_flags, dataclass_from_dict, flag_values, option
from dfcvae.data import DataConfig, DFCVAEDataModule, build_dataset
from dfcvae.errors import ConfigError
from dfcvae.training.classifier_config import ClassifierTrainConfig
from dfcvae.vae.presets import config_from_preset
from dfcvae.vae.run_config import SECTIONS, RunConfig
from tests.data_fixtures import FASHION_MNIST_DIR


def test_every_option_field_is_a_train_flag_that_sets_its_field() -> None:
    argv = ["train", "--out", "run", "--preset", "pvae", "--data-root", "photos",
            "--layers", "relu1_1,relu2_1", "--kl-weight", "2", "--deterministic",
            "--latent-dim", "7", "--val-batches", "0", "--crop", "none"]  # fmt: skip
    args = build_parser().parse_args(argv)
    flagged = {path for path in args.config_flags.values()}
    declared = {(s, f.name) for s, k in SECTIONS.items() for f in fields(k) if "flag" in f.metadata}
    assert flagged == declared and len(declared) == 37
    config = run_config_from_args(args)
    assert config.data.root == "photos" and config.data.crop == "none"
    assert config.loss.layers == ["relu1_1", "relu2_1"] and config.loss.kl_weight == 2.0
    assert config.train.deterministic is True and config.train.val_batches == 0
    assert config.model.latent_dim == 7
    # Flags left unset keep the preset's values.
    preset = config_from_preset("pvae")
    assert config.loss.reconstruction == preset.loss.reconstruction == "pixel"
    assert config.loss.recon_weight == preset.loss.recon_weight == 1.0
    assert config.train.batch_size == preset.train.batch_size == 64


def test_train_classifier_flag_defaults_are_the_config_defaults() -> None:
    args = build_parser().parse_args(["train-classifier", "--out", "c"])
    defaults = ClassifierTrainConfig()
    for dest, path in args.config_flags.items():
        expected = getattr(defaults.data if path[0] == "data" else defaults, path[-1])
        assert getattr(args, dest) == expected, dest
    assert (args.dataset, args.image_size, args.epochs, args.batch_size, args.lr) == (
        "fashion-mnist",
        32,
        2,
        128,
        5e-3,
    )
    assert not hasattr(args, "crop") and not hasattr(args, "labels_file")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sample", "{run}", "--n", "100000000"], "--n 100000000: must be in 1..1,024"),
        (["sample", "{run}", "--n", "0"], "--n 0: must be in 1.."),
        (["reconstruct", "{run}", "--nrow", "5000"], "--nrow 5000: must be in 1..1,024"),
        (["interpolate", "{run}", "--rows", "1000"], "--rows 1000: must be in 1..64"),
        (["interpolate", "{run}", "--steps", "1000"], "--steps 1000: must be in 1..64"),
        (["edit", "{run}", "--attribute", "Trouser", "--strength-steps", "999"],
         "--strength-steps 999: must be in 1..64"),
        (["tsne", "{run}", "--n", "1000000"], "--n 1000000: must be in 3..20,000"),
        (["evaluate", "{run}", "{run}", "--n", "10000000"], "--n 10000000: must be in 1..50,000"),
        (["report", "{run}", "--n-eval", "999999"], "--n-eval 999999: must be in 1..50,000"),
        (["report", "{run}", "--n-grid", "-3"], "--n-grid -3: must be in 1.."),
        (["report", "{run}", "--n-tsne", "99999"], "--n-tsne 99999: must be in 3..20,000"),
        (["attribute-vectors", "{run}", "--limit", "0"], "--limit 0: must be in 1.."),
        (["predict-attributes", "{run}", "--batch-size", "100000"],
         "--batch-size 100000: must be in 1..4,096"),
        (["demo", "--out", "{tmp}/demo", "--steps", "10000000000"],
         "--steps 10000000000: must be in 1..1,000,000"),
        (["explore", "{run}", "--port", "70000"], "--port 70000: must be in 0..65,535"),
        (["train", "--out", "{run}", "--batch-size", "100000000"],
         "--batch-size 100000000: must be in 1..65,536"),
        (["train", "--out", "{run}", "--max-steps", "10000000000"],
         "--max-steps 10000000000: must be -1 or in 1..1,000,000,000"),
        (["train", "--out", "{run}", "--num-workers", "100000"],
         "--num-workers 100000: must be in 0..256"),
        (["train-classifier", "--out", "{run}", "--epochs", "10000000"],
         "--epochs 10000000: must be in 1..100,000"),
        (["train-classifier", "--out", "{run}", "--image-size", "100000"],
         "--image-size 100000: must be in 4..1,024"),
    ],
)  # fmt: skip
def test_absurd_counts_are_refused_in_one_line_naming_the_option(tmp_path, capsys, argv, message):
    run = tmp_path / "run"
    assert main([a.format(run=run, tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not run.exists() and not (tmp_path / "demo").exists()


def test_config_files_are_bounded_too() -> None:
    config = RunConfig.from_dict({"train": {"max_steps": 10**12}, "loss": {"kl_warmup_steps": 3}})
    expected = r"^--max-steps 1000000000000: must be -1 or in 1\.\.1,000,000,000$"
    with pytest.raises(ConfigError, match=expected):
        config.validate()
    with pytest.raises(ConfigError, match=r"^--limit 10000000000: must be in 1\.\.1,000,000,000$"):
        DataConfig(limit=10**10).validate()
    with pytest.raises(ConfigError, match=r"^--lr 0: must be a finite number in \(0, 1\]$"):
        ClassifierTrainConfig(lr=0.0).validate()
    TrainConfig(max_steps=10**9, epochs=100_000, batch_size=65_536).validate()  # the bounds pass


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="needs dataset-fashion-mnist")
def test_data_config_builds_its_splits_and_datamodule(tmp_path: Path) -> None:
    data = DataConfig("fashion-mnist", cache_dir=str(tmp_path / "cache"), limit=64)
    test = data.build("test", image_size=16, channels=1, progress=False)
    by_hand = build_dataset("fashion-mnist", split="test", image_size=16, channels=1,
                            cache_dir=tmp_path / "cache", limit=64, progress=False)  # fmt: skip
    assert len(test) == len(by_hand) == 64 and test.folder == by_hand.folder
    assert len(data.build("test", image_size=16, channels=1, limit=8, progress=False)) == 8
    datamodule = data.datamodule(image_size=16, channels=1, batch_size=8, seed=3, progress=False)
    assert isinstance(datamodule, DFCVAEDataModule)
    datamodule.setup("fit")
    images, _ = next(iter(datamodule.train_dataloader()))
    assert images.shape == (8, 1, 16, 16) and len(datamodule.train_set) == 64


@dataclass
class Shapes:
    """Field types that annotation strings used to mis-parse."""

    kind: Literal["a", "b"] = option("a")
    where: Path | None = option(None)
    size: typing.Optional[int] = option(None, at_least=1)  # noqa: UP045 (the old spelling)
    pair: tuple[int, ...] = option(factory=tuple, at_least=0)
    names: list[str] = option(factory=list)
    on: bool = option(True)


def test_flag_types_come_from_the_type_hints_and_booleans_turn_off() -> None:
    parser = argparse.ArgumentParser(exit_on_error=False)
    flags = add_flags(parser, Shapes)
    args = parser.parse_args(["--kind", "b", "--where", "x/y", "--size", "3", "--pair", "1,2",
                              "--names", "p,q", "--no-on"])  # fmt: skip
    assert flag_values(args, flags) == {
        "kind": "b", "where": Path("x/y"), "size": 3, "pair": [1, 2], "names": ["p", "q"],
        "on": False,
    }  # fmt: skip
    assert flag_values(parser.parse_args(["--on"]), flags) == {"on": True}
    assert flag_values(parser.parse_args([]), flags) == {}  # unset: the file's or preset's value
    with pytest.raises(argparse.ArgumentError, match="invalid choice: 'c'"):
        parser.parse_args(["--kind", "c"])
    with pytest.raises(argparse.ArgumentError, match="--pair"):
        parser.parse_args(["--pair", "1,x"])


def test_config_values_are_checked_against_the_type_hints() -> None:
    config = dataclass_from_dict(Shapes, {"kind": "b", "where": "x", "size": None, "pair": [1, 2]},
                                 "f.toml")  # fmt: skip
    assert config.where == Path("x") and config.pair == (1, 2) and config.size is None
    assert dataclass_from_dict(Shapes, {"size": 4, "on": False}, "f.toml").size == 4
    bad = [{"kind": "c"}, {"kind": 1}, {"size": "3"}, {"size": True}, {"size": 2.5},
           {"pair": [1, "2"]}, {"pair": 3}, {"where": 3}, {"on": 1}, {"names": "p"}]  # fmt: skip
    for values in bad:
        with pytest.raises(ConfigError, match=r"^f\.toml: \w+ = .* must be "):
            dataclass_from_dict(Shapes, values, "f.toml")
    with pytest.raises(ConfigError, match=r"^f\.toml: pair = \[1, -2\]: must be at least 0$"):
        dataclass_from_dict(Shapes, {"pair": [1, -2]}, "f.toml", ranges=True)


def test_no_flags_turn_off_what_a_config_file_turned_on(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text("[train]\ndeterministic = true\n[model]\ndecoder_relu = true\n")
    argv = ["train", "--out", "run", "--preset", "pvae", "--config", str(config)]
    on = run_config_from_args(build_parser().parse_args(argv))
    assert on.train.deterministic is True and on.model.decoder_relu is True
    off = run_config_from_args(
        build_parser().parse_args([*argv, "--no-deterministic", "--no-decoder-relu"])
    )
    assert off.train.deterministic is False and off.model.decoder_relu is False
