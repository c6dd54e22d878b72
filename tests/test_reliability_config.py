"""Config and CLI values: each bad one is refused in one line naming the option (exit status 2),
and whatever passes validation builds and trains a step without crashing.

(``tests/test_cli.py`` covers image size, latent size 0, negative lr, unknown preset, layer and
data set; these add the rest of docs/reliability.md's list.)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dfcvae.cli import main
from dfcvae.errors import ConfigError, DFCVAEError
from dfcvae.loss_networks import LOSS_NETWORKS, layer_names
from dfcvae.training.module import DFCVAEModule
from dfcvae.training.trainer import build_trainer
from dfcvae.vae.loss_config import RECONSTRUCTIONS
from dfcvae.vae.presets import PRESETS, config_from_preset
from tests.conftest import needs_fashion_mnist

pytestmark = pytest.mark.usefixtures("one_thread")


def one_error_line(capsys: pytest.CaptureFixture, *argv: str) -> str:
    """Run ``dfcvae train`` on the tiny setup plus ``argv``; return its only stderr line."""
    code = main(["train", "--preset", "pvae", "--image-size", "32", "--channels", "1",
                 "--quiet", "--precision", "32-true", *argv])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("dfcvae train: error: ")
    return err[0]


@needs_fashion_mnist
def test_batch_larger_than_the_data_set_is_one_line_and_claims_no_run_dir(
    capsys, tmp_path: Path, cache_dir: Path
) -> None:
    run = tmp_path / "run"
    line = one_error_line(
        capsys, "--out", str(run), "--cache-dir", str(cache_dir), "--limit", "64",
        "--batch-size", "65", "--accelerator", "cpu",
    )  # fmt: skip
    assert "--batch-size 65 is larger than the fashion-mnist train set (64 images)" in line
    assert not run.exists()  # nothing left: the corrected command needs no --force


@pytest.mark.parametrize(
    "argv,named",
    [
        (["--accelerator", "cpu", "--devices", "0,x"], "--devices 0,x"),
        (["--accelerator", "cpu", "--devices", "many"], "--devices many"),
        (["--accelerator", "cpu", "--strategy", "telepathy"], "--strategy telepathy"),
        (["--seed", "-1"], "--seed -1"),
        (["--latent-dim", "1000000"], "--latent-dim 1000000"),
        (["--epochs", "0"], "--epochs 0"),
        (["--precision", "8-bit"], "--precision '8-bit'"),
    ],
)
def test_more_bad_values_are_one_line(capsys, tmp_path: Path, argv, named) -> None:
    assert named in one_error_line(capsys, "--out", str(tmp_path / "run"), *argv)


def test_a_gpu_that_is_not_there_is_one_line(capsys, tmp_path: Path) -> None:
    wanted = str(torch.cuda.device_count() + 1)
    line = one_error_line(
        capsys, "--out", str(tmp_path / "run"), "--accelerator", "gpu", "--devices", wanted
    )
    assert f"--accelerator gpu --devices {wanted}" in line
    assert not (tmp_path / "run" / "config.json").exists()


def test_wrong_types_in_a_config_file_are_named(capsys, tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text('[model]\nlatent_dim = "16"\n')
    line = one_error_line(capsys, "--out", str(tmp_path / "run"), "--config", str(config))
    assert "[model]: latent_dim = '16' must be int" in line
    config.write_text("[train]\nlr = true\n")
    assert "lr = True must be float" in one_error_line(
        capsys, "--out", str(tmp_path / "run"), "--config", str(config)
    )


def test_the_installed_command_exits_2_with_one_stderr_line(tmp_path: Path) -> None:
    """A real process: no traceback and no Lightning chatter on stderr, only the one line."""
    command = Path(sys.executable).with_name("dfcvae")
    wanted = str(torch.cuda.device_count() + 1)
    result = subprocess.run(
        [str(command), "train", "--preset", "pvae", "--out", str(tmp_path / "run"),
         "--accelerator", "gpu", "--devices", wanted, "--quiet"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dfcvae train: error: --accelerator gpu")


# Values for each option: plausible ones, so that valid configs are common, and hostile ones of
# every type (None, bools, negative, huge, NaN, strings where numbers belong, ...).
ANY = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(), st.text(max_size=6),
    st.lists(st.integers(-4, 64), max_size=6),
)  # fmt: skip
LAYERS = sorted({name for network in ("vgg19", "mobilenet_v2", "classifier")
                 for name in layer_names(network)} | {"relu9_9", ""})  # fmt: skip
OPTIONS = {
    "model": {
        "image_size": st.sampled_from([32, 64, 48, 0, -32, 2**40]),
        "channels": st.sampled_from([1, 3, 0, 2]),
        "latent_dim": st.one_of(st.integers(-2, 24), st.just(10**9)),
        "base_width": st.integers(-1, 8),
        "widths": st.lists(st.integers(-1, 16), max_size=5),
    },
    "loss": {
        "reconstruction": st.sampled_from([*RECONSTRUCTIONS, "vibes"]),
        "pixel": st.sampled_from(["sse", "bce", "l1"]),
        "loss_network": st.sampled_from([*LOSS_NETWORKS, "resnet"]),
        "layers": st.lists(st.sampled_from(LAYERS), max_size=3),
        "layer_weights": st.lists(st.floats(-1, 2) | st.just(float("nan")), max_size=3),
        "loss_weights": st.sampled_from(["random", None, "/no/such/weights.pt"]),
        "loss_input_size": st.sampled_from([None, 0, -8, 31, 32, 64, 5000]),
        "kl_weight": st.floats(-1, 2) | st.sampled_from([float("nan"), float("inf")]),
        "recon_weight": st.floats(0, 2) | st.sampled_from([-1.0, float("inf")]),
        "kl_warmup_steps": st.integers(-3, 10),
    },
    "train": {
        "lr": st.floats(-1, 1) | st.sampled_from([0.0, float("nan"), float("inf"), 1e-3]),
        "beta1": st.floats(-0.5, 1.5),
        "batch_size": st.integers(-1, 4),
        "seed": st.integers(-5, 2**33),
        "max_steps": st.integers(-3, 5),
        "gradient_clip": st.none() | st.floats(-1, 2),
        "precision": st.sampled_from(["32-true", "auto", "64-true", "8-bit"]),
        "devices": st.sampled_from(["1", "auto", "0", "-1", "0,", "a,b", ""]) | st.text(max_size=4),
        "strategy": st.sampled_from(["auto", "nope"]),
        "accelerator": st.sampled_from(["cpu", "auto", "tpu9"]),
        "log_every_n_steps": st.integers(-1, 3),
    },
}


SMALL = {"model": {"image_size": 32, "base_width": 8, "latent_dim": 8},
         "loss": {"loss_weights": "random"}}  # fmt: skip
NAMES = [(section, name) for section, options in OPTIONS.items() for name in options]


@st.composite
def overrides(draw: st.DrawFn) -> dict:
    """A small model with a few options changed, each to a plausible value or to anything."""
    out = {section: dict(values) for section, values in SMALL.items()}
    for section, name in draw(st.lists(st.sampled_from(NAMES), max_size=4, unique=True)):
        plausible = OPTIONS[section][name]
        value = draw(st.one_of(plausible, plausible, plausible, ANY))
        out.setdefault(section, {})[name] = value
    return out


@pytest.mark.filterwarnings("ignore:loss network .* has RANDOM weights")
@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(preset=st.sampled_from(list(PRESETS)), values=overrides())
def test_config_values_are_refused_in_one_line_or_train_a_step(preset: str, values: dict) -> None:
    try:
        config = config_from_preset(preset, values).validate()
        module = DFCVAEModule(config.to_dict())  # WeightsError for absent loss-network weights
        with tempfile.TemporaryDirectory() as out:
            build_trainer(config, Path(out), progress=False)
    except DFCVAEError as error:
        event(type(error).__name__)
        message = str(error)
        assert message and "\n" not in message
        if isinstance(error, ConfigError):
            assert any(word in message for word in ("--", "=", "model", "loss", "train", "layer"))
        return
    # It passed: a training step must run on images of the configured size.
    event(f"valid: trains a step ({config.loss.reconstruction})")
    size, channels = config.model.image_size, config.model.channels
    x = torch.rand(2, channels, size, size)
    terms = module.criterion(x, module.vae(x, torch.randn(2, config.model.latent_dim)), 0)
    terms.total.backward()
    assert terms.total.ndim == 0


def test_values_argparse_cannot_read_are_one_line_too(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--out", "run", "--latent-dim", "sixteen"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and err == [
        "dfcvae train: error: argument --latent-dim: invalid int value: 'sixteen' "
        "(see dfcvae train --help)"
    ]


@pytest.mark.parametrize("command", ["train", "sample", "interpolate", "report"])
def test_an_unknown_argument_is_one_line_naming_the_command(command, capsys) -> None:
    run = [] if command == "train" else ["some-run"]
    with pytest.raises(SystemExit) as exit_:
        main([command, *run, "--bogus", "-:"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and err == [
        f"dfcvae {command}: error: unrecognized arguments: --bogus -: (see dfcvae {command} --help)"
    ]
