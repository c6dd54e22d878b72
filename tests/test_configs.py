"""The shipped configs and presets parse, validate and mean what they say."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfcvae.config import read_config_file
from dfcvae.configs import config_path
from dfcvae.errors import ConfigError
from dfcvae.vae.presets import PRESETS, config_from_preset
from dfcvae.vae.run_config import RunConfig

CONFIGS = sorted((Path(__file__).parent.parent / "src" / "dfcvae" / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_validates(path: Path) -> None:
    values = read_config_file(path)
    preset = values.pop("preset")
    config = config_from_preset(preset, values)
    if config.data.dataset == "celeba":
        config.data.root = "/data/celeba"
    config.validate()
    assert config.preset == preset


def test_celeba_configs_are_the_papers_setup() -> None:
    for name in ("pvae", "vae-123", "vae-345"):
        values = read_config_file(config_path(f"celeba-{name}"))
        config = config_from_preset(values.pop("preset"), values)
        assert (config.model.image_size, config.model.latent_dim) == (64, 100)
        assert (config.train.lr, config.train.beta1, config.train.batch_size) == (5e-4, 0.5, 64)
        assert config.train.epochs == 5


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_validates_and_round_trips(preset: str) -> None:
    config = config_from_preset(preset).validate()
    assert RunConfig.from_dict(config.to_dict()) == config


def test_unknown_preset_and_option_are_named() -> None:
    with pytest.raises(ConfigError, match="--preset 'vae-999'.*vae-123"):
        config_from_preset("vae-999")
    with pytest.raises(ConfigError, match=r"\[train\].*unknown option.*'epoch'"):
        config_from_preset("pvae", {"train": {"epoch": 3}})


def test_broken_config_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("preset = \n")
    with pytest.raises(ConfigError, match="bad.toml: not valid toml"):
        read_config_file(path)


def test_a_shipped_config_is_found_by_name_with_or_without_its_suffix() -> None:
    by_name = config_path("celeba-vae-345")
    assert by_name == config_path("celeba-vae-345.toml")
    assert by_name.is_file() and by_name.parent.name == "configs"
    assert read_config_file(by_name)["preset"] == "vae-345"


def test_a_config_path_wins_over_a_shipped_name(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("celeba-vae-345").write_text('preset = "pvae"\n')
    assert read_config_file(config_path("celeba-vae-345"))["preset"] == "pvae"


def test_an_unknown_config_name_is_one_line_listing_the_shipped_ones() -> None:
    with pytest.raises(ConfigError) as error:
        config_path("celeba-vae-999")
    message = str(error.value)
    assert "\n" not in message
    assert "--config celeba-vae-999: no such file" in message
    assert "celeba-vae-345" in message and "fashion-mnist-pvae" in message


def test_train_help_names_the_shipped_configs_not_a_folder(capsys) -> None:
    from dfcvae.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "configs/" not in text
    assert "celeba-original-128, celeba-pvae" in text
