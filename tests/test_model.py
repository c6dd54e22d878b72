"""The VAE's architecture: shapes at every supported size, the paper's blocks, output range."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dfcvae import DFCVAE, ModelConfig
from dfcvae.errors import ConfigError


@pytest.mark.parametrize("size,blocks", [(32, 3), (64, 4), (128, 5)])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_follow_image_size_and_channels(size: int, blocks: int, channels: int) -> None:
    model = DFCVAE(ModelConfig(image_size=size, channels=channels, latent_dim=12))
    x = torch.rand(3, channels, size, size)
    out = model(x)
    assert out.recon.shape == x.shape and out.recon_logits.shape == x.shape
    assert out.mu.shape == out.logvar.shape == out.z.shape == (3, 12)
    assert len(model.encoder.features) == len(model.decoder.features) == blocks
    assert model.decode(torch.randn(2, 12)).shape == (2, channels, size, size)


def test_paper_architecture_at_64() -> None:
    model = DFCVAE(ModelConfig(image_size=64, channels=3))
    convs = [block[0] for block in model.encoder.features]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256]
    assert all(
        c.kernel_size == (4, 4) and c.stride == (2, 2) and c.padding == (1, 1) for c in convs
    )
    assert all(isinstance(b[2], nn.LeakyReLU) and b[2].negative_slope == 0.2
               for b in model.encoder.features)  # fmt: skip
    assert model.encoder.fc_mu.out_features == 100
    assert model.decoder.fc.out_features == 256 * 4 * 4
    blocks = list(model.decoder.features)
    assert [b[2].out_channels for b in blocks] == [128, 64, 32, 3]
    for block in blocks:
        assert isinstance(block[0], nn.Upsample) and block[0].mode == "nearest"
        assert isinstance(block[1], nn.ReplicationPad2d)
        assert block[2].kernel_size == (3, 3) and block[2].stride == (1, 1)
    assert len(blocks[-1]) == 3  # the last block: no BatchNorm, no activation
    assert all(len(b) == 5 for b in blocks[:-1])


def test_conv_weights_initialised_normal_002() -> None:
    torch.manual_seed(0)
    model = DFCVAE(ModelConfig(image_size=64, channels=3))
    weights = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, nn.Conv2d)])
    assert abs(weights.mean().item()) < 1e-3
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)


def test_reconstruction_lies_in_input_range_even_for_extreme_latents() -> None:
    model = DFCVAE(ModelConfig(image_size=32, channels=1, latent_dim=8)).eval()
    images = model.decode(torch.randn(16, 8) * 100)
    assert images.min() >= 0 and images.max() <= 1


def test_reparameterisation_samples_in_training_and_uses_mean_in_eval() -> None:
    model = DFCVAE(ModelConfig(image_size=32, channels=1, latent_dim=8))
    x = torch.rand(4, 1, 32, 32)
    model.train()
    out = model(x)
    assert not torch.allclose(out.z, out.mu)
    eps = (out.z - out.mu) / torch.exp(0.5 * out.logvar)
    assert eps.abs().max() < 6  # a standard normal draw, rescaled
    model.eval()
    out = model(x)
    assert torch.equal(out.z, out.mu)


def test_custom_widths_and_latent_from_config() -> None:
    model = DFCVAE(ModelConfig(image_size=32, channels=3, latent_dim=7, widths=[8, 16, 24]))
    assert [b[0].out_channels for b in model.encoder.features] == [8, 16, 24]
    assert model(torch.rand(2, 3, 32, 32)).mu.shape == (2, 7)


@pytest.mark.parametrize(
    "changes,option",
    [({"image_size": 48}, "--image-size"), ({"latent_dim": 0}, "--latent-dim"),
     ({"channels": 2}, "channels"), ({"widths": [8, 16]}, "model.widths")],
)  # fmt: skip
def test_invalid_model_config_names_the_option(changes: dict, option: str) -> None:
    with pytest.raises(ConfigError, match=option):
        ModelConfig(**changes).validate()
