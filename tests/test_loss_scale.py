"""The paper presets reproduce the original code's loss (docs/loss-scale.md), computed here from
its own definitions: Caffe VGG19 fed 0-255 BGR pixels minus the mean pixel, MSECriterion (mean)
x 0.5 per content layer, and the KL summed over the whole batch."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

from dfcvae import config_from_preset
from dfcvae.loss_networks.base import IMAGENET_STD, LossNetwork
from dfcvae.loss_networks.vgg import CAFFE_FEATURE_SCALE, VGG19, build_vgg19_features
from dfcvae.vae.losses import DFCVAELoss
from dfcvae.vae.model import VAEOutput

CAFFE_MEAN_PIXEL_BGR = torch.tensor([103.939, 116.779, 123.68])
LAYERS = ["relu1_1", "relu2_1", "relu3_1"]


def caffe_preprocess(x: torch.Tensor) -> torch.Tensor:
    """The original util.preprocess: RGB -> BGR, x 255, minus the mean pixel; no std."""
    return x.flip(1) * 255 - CAFFE_MEAN_PIXEL_BGR.view(1, 3, 1, 1)


def caffe_twin(features: nn.Sequential) -> nn.Sequential:
    """The Caffe network that the scale derivation assumes: torchvision's weights on BGR inputs
    255 * std times larger, so every bias is that much larger too (ReLU and max-pooling are
    positively homogeneous, hence each activation is exactly CAFFE_FEATURE_SCALE times larger)."""
    twin = copy.deepcopy(features)
    std = torch.tensor(IMAGENET_STD)
    first = twin[0]
    with torch.no_grad():
        # Undo torchvision's per-channel 1/std into the single Caffe scale, then RGB -> BGR.
        first.weight.mul_((std.mean() / std).view(1, 3, 1, 1))
        first.weight.copy_(first.weight.flip(1))
        for layer in twin:
            if isinstance(layer, nn.Conv2d):
                layer.bias.mul_(CAFFE_FEATURE_SCALE)
    return twin


def original_loss(twin: nn.Sequential, x, recon, mu, logvar) -> tuple[float, float]:
    """(content loss, KL) as main_cvae_content.lua computes them."""
    taps = [VGG19.layers[name] for name in LAYERS]
    content, h_x, h_r = 0.0, caffe_preprocess(x), caffe_preprocess(recon)
    for index, layer in enumerate(twin[: max(taps) + 1]):
        h_x, h_r = layer(h_x), layer(h_r)
        if index in taps:
            content += 0.5 * torch.nn.functional.mse_loss(h_r, h_x)  # MSECriterion, strength 0.5
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())  # KLDCriterion: whole batch
    return float(content), float(kl)


@pytest.mark.parametrize("batch", [4, 9])
def test_vae_123_loss_equals_the_original_codes_loss(batch: int) -> None:
    torch.manual_seed(batch)
    features = build_vgg19_features(None)
    network = LossNetwork(VGG19, LAYERS, features.state_dict())
    criterion = DFCVAELoss(config_from_preset("vae-123").loss, loss_network=network)
    x = torch.rand(batch, 3, 64, 64)
    recon = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    mu, logvar = torch.randn(batch, 100), 0.5 * torch.randn(batch, 100)
    out = VAEOutput(recon=recon, recon_logits=torch.logit(recon, 1e-6), mu=mu, logvar=logvar, z=mu)

    with torch.no_grad():
        terms = criterion(x, out)
        content, kl = original_loss(caffe_twin(features), x, recon, mu, logvar)

    # The only differences: Caffe's mean pixel against 255 * ImageNet's mean (under 0.5 of 255).
    assert terms.alpha * terms.kl.item() * batch == pytest.approx(kl, rel=1e-5)
    assert 0.5 * terms.reconstruction.item() == pytest.approx(content, rel=2e-2)
    assert terms.total.item() == pytest.approx(content + kl, rel=2e-2)


def test_feature_scale_multiplies_the_squared_feature_error() -> None:
    torch.manual_seed(0)
    network = LossNetwork(VGG19, LAYERS, None)
    x, recon = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    zeros = torch.zeros(2, 8)
    out = VAEOutput(recon, torch.logit(recon, 1e-6), mu=zeros, logvar=zeros, z=zeros)
    loss = config_from_preset("vae-123").loss
    plain = DFCVAELoss(dataclasses.replace(loss, feature_scale=1.0), loss_network=network)
    scaled = DFCVAELoss(loss, loss_network=network)
    with torch.no_grad():
        ratio = scaled(x, out).reconstruction / plain(x, out).reconstruction
    assert ratio.item() == pytest.approx(CAFFE_FEATURE_SCALE**2, rel=1e-5)
    assert CAFFE_FEATURE_SCALE == pytest.approx(57.6, abs=0.1)
