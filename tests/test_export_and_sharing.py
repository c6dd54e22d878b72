"""Sharing and export: save_pretrained / from_pretrained in the Hub's layout (folders and the
local Hugging Face cache, offline), the generated model card, and ONNX files checked against
PyTorch with onnxruntime."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dfcvae
from dfcvae.cli import main
from dfcvae.errors import ConfigError, DFCVAEError, RunDirError
from dfcvae.files import CONFIG_FILE, MODEL_FILE
from dfcvae.saved.export import ONNX_TOLERANCE, check_onnx, export_onnx
from dfcvae.saved.model_card import model_card
from dfcvae.saved.pretrained import SHARED_FILES, from_pretrained
from dfcvae.vae.presets import config_from_preset

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def metrics_file(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("metrics") / "metrics.json"
    args = ["--n", "8", "--no-lpips", "--feature-space", "classifier", "-o", str(out), "--quiet"]
    assert main(["evaluate", str(tiny_run), *args]) == 0
    return out


@pytest.fixture(scope="module")
def shared(tiny_run: Path, metrics_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shared") / "pvae-fashion"
    args = ["--format", "hub", "--metrics", str(metrics_file), "-o", str(folder)]
    assert main(["export", str(tiny_run), *args]) == 0
    return folder


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    other = b.state_dict()
    return all(torch.equal(value, other[key]) for key, value in a.state_dict().items())


def test_save_pretrained_writes_the_hub_layout_and_loads_back(tiny_run: Path, shared: Path):
    assert sorted(p.name for p in shared.iterdir()) == sorted(SHARED_FILES)
    model = from_pretrained(shared)
    assert not model.training
    assert same_weights(model, dfcvae.load(tiny_run))
    assert same_weights(dfcvae.load(shared), model)  # the folder is a run directory too


def test_the_shared_config_keeps_no_path_of_this_machine(tiny_run: Path, shared: Path):
    own = json.loads((tiny_run / CONFIG_FILE).read_text())
    assert own["data"]["cache_dir"]  # the tiny run names its private cache
    data = json.loads((shared / CONFIG_FILE).read_text())["data"]
    assert (data["root"], data["cache_dir"], data["labels_file"]) == (None, None, None)
    assert data["dataset"] == "fashion-mnist"


def test_the_model_card_states_preset_data_steps_and_the_evaluated_metrics(
    shared: Path, metrics_file: Path
):
    card = (shared / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: dfcvae\n")
    assert "| preset | pvae |" in card and "| data set | fashion-mnist |" in card
    assert "| optimizer steps | 32 |" in card  # 2 epochs of 16 batches
    entry = next(iter(json.loads(metrics_file.read_text())["runs"].values()))
    assert (
        f"| reconstruction MSE per image (lower is better) | {entry['mse']['mean']:.4g} ±" in card
    )
    assert f"| active units | {entry['active_units']} of 16 |" in card
    assert "no loss network" in card and "torchvision" not in card


def test_the_model_card_states_the_loss_networks_licence_facts() -> None:
    card = model_card(config_from_preset("vae-mobilenet"), "m", None, None)
    assert "mobilenet_v2 with torchvision's ImageNet weights (IMAGENET1K_V1)" in card
    assert "BSD-3-Clause" in card and "see torchvision" in card
    assert "| optimizer steps | unknown |" in card and "## Evaluation" not in card
    card = model_card(config_from_preset("vae-classifier"), "m", 5, None)
    assert "trained by `dfcvae train-classifier` on fashion-mnist" in card


def hub_cache(root: Path, repo_id: str, files_from: Path) -> Path:
    """A Hugging Face cache holding one snapshot of ``repo_id``, as a download leaves it."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(files_from, repo / "snapshots" / commit)
    return root


def test_from_pretrained_reads_a_repo_id_from_the_local_cache_offline(
    shared: Path, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("DFCVAE_OFFLINE", "1")
    cache = hub_cache(tmp_path / "hub", "someone/pvae-fashion", shared)
    model = from_pretrained("someone/pvae-fashion", cache_dir=cache)
    assert same_weights(model, from_pretrained(shared))
    with pytest.raises(RunDirError) as error:
        from_pretrained("someone/not-cached", cache_dir=cache)
    message = str(error.value)
    assert message.startswith("someone/not-cached: no such folder, and not in the local Hugging")
    assert "\n" not in message


def test_from_pretrained_without_huggingface_hub_names_the_extra(monkeypatch, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ConfigError, match=r"pip install 'dfcvae\[hub\]'"):
        from_pretrained("someone/pvae-fashion", cache_dir=tmp_path)
    with pytest.raises(RunDirError, match="no such folder, and not a Hub repo id"):
        from_pretrained(str(tmp_path / "missing" / "deeper" / "folder"))


def test_onnx_export_matches_pytorch_within_the_tolerance(tiny_run: Path, tmp_path: Path):
    model = dfcvae.load(tiny_run).train()  # the export runs in eval mode, and leaves this one
    files = export_onnx(model, tmp_path)
    assert [f.name for f in files] == ["encoder.onnx", "decoder.onnx"]
    assert model.training
    errors = check_onnx(model, tmp_path, n=5)  # exported with a batch of 2: the batch is dynamic
    assert set(errors) == {"mu", "logvar", "image"}
    assert max(errors.values()) <= ONNX_TOLERANCE
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "decoder.onnx"))
    z = torch.randn(3, model.config.latent_dim)
    (image,) = session.run(None, {"z": z.numpy()})
    with torch.no_grad():
        assert np.abs(image - model.eval().decode(z).numpy()).max() <= ONNX_TOLERANCE


def test_the_onnx_check_fails_for_files_of_another_model(tiny_run: Path, tmp_path: Path):
    model = dfcvae.load(tiny_run)
    other = dfcvae.load(tiny_run)
    with torch.no_grad():
        other.decoder.fc.bias.add_(0.5)
    export_onnx(other, tmp_path)
    with pytest.raises(DFCVAEError, match="ONNX Runtime differs from PyTorch by .* on image"):
        check_onnx(model, tmp_path)


def test_export_onnx_command_writes_and_checks(tiny_run: Path, tmp_path: Path, capsys):
    args = ["--format", "onnx", "--check", "-o", str(tmp_path)]
    assert main(["export", str(tiny_run), *args]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime matches PyTorch" in out
    assert (tmp_path / "encoder.onnx").is_file() and (tmp_path / "decoder.onnx").is_file()
    assert (
        main(
            [
                "export",
                str(tiny_run),
                "--format",
                "onnx",
                "--checkpoint",
                "last.ckpt",
                "-o",
                str(tmp_path / "from-checkpoint"),
            ]
        )
        == 0
    )
    assert not (tiny_run / MODEL_FILE).with_name("export").exists()
