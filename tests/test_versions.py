"""Versions: ``dfcvae.__version__`` and ``dfcvae --version`` from the package metadata, and
``config.json``'s format, migrated explicitly when older."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest
import torch

import dfcvae
from dfcvae import DFCVAE, ModelConfig, RunConfig
from dfcvae.cli import main
from dfcvae.errors import RunDirError
from dfcvae.saved.model_files import CONFIG_FORMAT, load_run, save_model
from dfcvae.version import package_version


def test_version_is_the_installed_packages() -> None:
    try:
        expected = installed_version("dfcvae")
    except PackageNotFoundError:
        pytest.skip("dfcvae is not installed here")
    assert dfcvae.__version__ == expected


def test_without_metadata_the_version_is_pyprojects(monkeypatch) -> None:
    def not_installed(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr("dfcvae.version.version", not_installed)
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert f'version = "{package_version()}"' in pyproject
    monkeypatch.setattr("dfcvae.version.PYPROJECT", Path("/nonexistent/pyproject.toml"))
    assert package_version() == "0+unknown"


def test_the_command_prints_its_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"dfcvae {dfcvae.__version__}"


def saved_run(tmp_path: Path) -> tuple[Path, DFCVAE]:
    config = RunConfig(model=ModelConfig(image_size=32, channels=1, latent_dim=8))
    config.model.decoder_relu = False
    model = DFCVAE(config.model).eval()
    save_model(tmp_path, model, config)
    return tmp_path / "config.json", model


def test_config_json_records_its_format_and_the_version_that_wrote_it(tmp_path: Path) -> None:
    path, _ = saved_run(tmp_path)
    saved = json.loads(path.read_text())
    assert saved["format"] == CONFIG_FORMAT == 2
    assert saved["dfcvae_version"] == dfcvae.__version__
    assert load_run(tmp_path)[1].model.decoder_relu is False


def test_format_1_gets_the_decoder_without_relu_and_format_2_the_default(tmp_path: Path) -> None:
    path, model = saved_run(tmp_path)
    saved = json.loads(path.read_text())
    del saved["model"]["decoder_relu"]
    path.write_text(json.dumps(saved))
    assert load_run(tmp_path)[1].model.decoder_relu is True  # format 2: the option's default
    del saved["format"], saved["dfcvae_version"]  # format 1: before formats were recorded
    path.write_text(json.dumps(saved))
    loaded, config = load_run(tmp_path)
    assert config.model.decoder_relu is False
    z = torch.randn(3, 8)
    torch.testing.assert_close(loaded.decode(z), model.decode(z))


@pytest.mark.parametrize("found", [CONFIG_FORMAT + 1, "2", 0])
def test_an_unknown_format_is_one_line(tmp_path: Path, found) -> None:  # noqa: ANN001
    path, _ = saved_run(tmp_path)
    saved = json.loads(path.read_text())
    saved["format"] = found
    path.write_text(json.dumps(saved))
    with pytest.raises(RunDirError, match=r"config format .* upgrade dfcvae"):
        load_run(tmp_path)
