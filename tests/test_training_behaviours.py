"""Training behaviours that a loss value alone would not show: the loss network's eval mode,
gradient clipping, the automatic precision rule and the KL warm-up in a real run's logs."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

import dfcvae.training.precision as precision_module
import dfcvae.training.trainer as train_module
from dfcvae.loss_networks.base import LossNetwork, LossNetworkSpec
from dfcvae.vae.losses import DFCVAELoss
from dfcvae.vae.presets import config_from_preset
from dfcvae.vae.run_config import RunConfig
from tests.conftest import FASHION_MNIST, tiny_config

# --- The loss network stays in eval mode ---------------------------------------------------


def batchnorm_network() -> LossNetwork:
    spec = LossNetworkSpec(
        name="tiny",
        description="conv + BatchNorm",
        layers={"conv": 0, "bn": 1},
        build=lambda state: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)),
        weights=None,
    )
    return LossNetwork(spec, ["bn"], None)


def all_eval(module: nn.Module) -> bool:
    return not any(m.training for m in module.modules())


@pytest.mark.parametrize(
    "reach",
    [
        lambda net: net.train(),
        lambda net: net.train(True),
        lambda net: nn.Sequential(net).train(),
        lambda net: nn.ModuleDict({"loss_network": net}).train(mode=True),
        lambda net: DFCVAELoss(config_from_preset("vae-mobilenet").loss, net).train(),
    ],
    ids=["train()", "train(True)", "parent", "module-dict", "DFCVAELoss"],
)
def test_the_loss_network_stays_in_eval_mode_however_train_reaches_it(reach):
    net = batchnorm_network()
    reach(net)
    assert all_eval(net)
    running_mean = net.features[1].running_mean.clone()
    net(torch.rand(4, 3, 32, 32))
    assert torch.equal(net.features[1].running_mean, running_mean)  # BatchNorm did not drift


def test_an_rgb_image_reaches_a_grayscale_network_as_its_luma():
    spec = LossNetworkSpec(name="gray", description="identity", layers={"id": 0},
                           build=lambda state: nn.Sequential(nn.Identity()), weights=None,
                           mean=(0.0,), std=(1.0,), in_channels=1, min_size=1)  # fmt: skip
    net = LossNetwork(spec, ["id"], None)
    x = torch.rand(2, 3, 8, 8)
    (out,) = net(x)
    expected = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    torch.testing.assert_close(out[:, 0], expected)


# --- The automatic precision rule ----------------------------------------------------------

# The documented rule (docs/benchmarks.md): bf16 where the CPU computes it natively (avx512_bf16
# or AMX), or on a GPU of compute capability 8.0 and up; fp16 mixed on 7.x GPUs; otherwise fp32.
# One row per capability: (CPU flags, CUDA available, CUDA bf16 (8.0+), expected precision).
PRECISION_RULE = [
    ("fpu sse avx2 avx512f", False, False, "32-true"),
    ("fpu sse avx2 avx512f avx512_bf16", False, False, "bf16-mixed"),
    ("fpu sse avx2 amx_bf16 amx_tile", False, False, "bf16-mixed"),
    (None, False, False, "32-true"),  # /proc/cpuinfo unreadable
    ("fpu sse avx2", True, True, "bf16-mixed"),
    ("fpu sse avx2 avx512_bf16", True, False, "16-mixed"),  # a V100 or T4 in a bf16 host
]


def fake_machine(monkeypatch, flags: str | None, cuda: bool, cuda_bf16: bool) -> None:
    real_read_text = Path.read_text

    def read_text(self, *args, **kwargs):
        if str(self) == "/proc/cpuinfo":
            if flags is None:
                raise PermissionError("/proc/cpuinfo")
            return f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n"
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: cuda_bf16)
    capability = (8, 0) if cuda_bf16 else (7, 0)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)


@pytest.mark.parametrize("flags, cuda, cuda_bf16, expected", PRECISION_RULE)
def test_automatic_precision_per_capability(monkeypatch, flags, cuda, cuda_bf16, expected):
    fake_machine(monkeypatch, flags, cuda, cuda_bf16)
    accelerator = "auto" if cuda else "cpu"
    assert precision_module.resolve_precision("auto", accelerator) == expected


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
def test_an_explicit_precision_is_kept_whatever_the_machine(monkeypatch, precision):
    fake_machine(monkeypatch, "avx512_bf16", True, True)
    assert precision_module.resolve_precision(precision, "cpu") == precision


# --- A real run: gradient clipping and the KL warm-up --------------------------------------

CLIP = 0.05
WARMUP = 6


class GradientNorms(L.Callback):
    """The VAE's total gradient norm before clipping and after it (at the end of each step,
    the gradients the optimizer used are still there)."""

    def __init__(self) -> None:
        self.before: list[float] = []
        self.after: list[float] = []

    @staticmethod
    def norm(module: nn.Module) -> float:
        grads = [p.grad.detach().flatten() for p in module.parameters() if p.grad is not None]
        return float(torch.cat(grads).norm())

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.before.append(self.norm(pl_module.vae))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.after.append(self.norm(pl_module.vae))


@pytest.fixture(scope="module")
def clipped_run(tmp_path_factory, cache_dir) -> tuple[Path, GradientNorms]:
    """10 steps of the tiny PVAE with --gradient-clip 0.05 and --kl-warmup-steps 6."""
    if not FASHION_MNIST.is_dir():
        pytest.skip("needs the Debian package dataset-fashion-mnist")
    data = tiny_config("pvae", cache_dir, max_steps=10, val_batches=0, gradient_clip=CLIP,
                       log_every_n_steps=1).to_dict()  # fmt: skip
    data["loss"].update(kl_warmup_steps=WARMUP, kl_weight=0.5)
    norms = GradientNorms()
    build = train_module.build_trainer

    def build_with_norms(*args, **kwargs):
        trainer = build(*args, **kwargs)
        trainer.callbacks.append(norms)
        return trainer

    out = tmp_path_factory.mktemp("runs") / "clipped"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module, "build_trainer", build_with_norms)
        train_module.train(RunConfig.from_dict(data), out, progress=False)
    return out, norms


def test_gradient_clipping_clips_the_total_norm(clipped_run):
    _, norms = clipped_run
    assert len(norms.before) == len(norms.after) == 10
    assert min(norms.before) > CLIP  # every step needed clipping
    assert max(norms.after) <= CLIP * (1 + 1e-4)
    assert min(norms.after) > CLIP * 0.99  # clipped to the value, not zeroed


def test_the_kl_weight_ramps_in_the_logs_of_a_real_run(clipped_run):
    out, _ = clipped_run
    with open(out / "logs" / "metrics.csv") as file:
        rows = [row for row in csv.DictReader(file) if row.get("train/kl_weight")]
    weights = {int(row["step"]): float(row["train/kl_weight"]) for row in rows}
    assert sorted(weights) == list(range(10))
    for step, weight in weights.items():
        assert weight == pytest.approx(0.5 * min(1.0, step / WARMUP)), step
