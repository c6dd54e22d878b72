"""Loss values against hand computations, and the reductions documented in the README."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.models.vgg import cfgs, make_layers

from dfcvae import DFCVAE, DFCVAELoss, ModelConfig, config_from_preset
from dfcvae.vae.losses import feature_loss, kl_divergence, pixel_loss, ssim_colour_loss


def test_kl_divergence_sums_latent_dims_and_averages_batch() -> None:
    mu = torch.tensor([[0.5, -1.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [math.log(0.25), 0.0]])
    by_hand = []
    for m_row, lv_row in zip(mu.tolist(), logvar.tolist()):
        by_hand.append(sum(0.5 * (m**2 + math.exp(lv) - 1 - lv) for m, lv in zip(m_row, lv_row)))
    assert kl_divergence(mu, logvar).item() == pytest.approx(sum(by_hand) / 2, rel=1e-6)
    assert kl_divergence(torch.zeros(3, 5), torch.zeros(3, 5)).item() == 0


def test_pixel_sse_and_bce_per_image_sum_batch_mean() -> None:
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 0.5]]], [[[1.0, 1.0], [1.0, 1.0]]]])
    x = torch.tensor([[[[0.0, 1.0], [0.5, 0.2]]], [[[1.0, 0.0], [1.0, 0.0]]]])
    p = torch.sigmoid(logits)
    sse = sum(((p[i] - x[i]) ** 2).sum().item() for i in range(2)) / 2
    assert pixel_loss(logits, x, "sse").item() == pytest.approx(sse, rel=1e-6)
    bce = -(x * torch.log(p) + (1 - x) * torch.log(1 - p))
    assert pixel_loss(logits, x, "bce").item() == pytest.approx(bce.sum().item() / 2, rel=1e-5)


def test_feature_loss_weights_per_layer_means() -> None:
    a = [torch.ones(2, 3, 4, 4), torch.zeros(2, 5, 2, 2)]
    b = [torch.zeros(2, 3, 4, 4), torch.full((2, 5, 2, 2), 2.0)]
    assert feature_loss(a, b).item() == pytest.approx(1.0 + 4.0)
    assert feature_loss(a, b, [0.5, 0.25]).item() == pytest.approx(0.5 + 1.0)


def test_vae123_feature_term_matches_vgg19_by_hand() -> None:
    torch.manual_seed(0)
    config = config_from_preset("vae-123", {"loss": {"loss_weights": "random"}})
    with pytest.warns(UserWarning, match="RANDOM"):
        loss = DFCVAELoss(config.loss)
    vgg = make_layers(cfgs["E"])
    vgg.load_state_dict(loss.loss_network.features.state_dict(), strict=False)
    x, recon = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def relu(image: torch.Tensor, index: int) -> torch.Tensor:
        return vgg[: index + 1]((image - mean) / std)

    by_hand = sum(F.mse_loss(relu(x, i), relu(recon, i)).item() for i in (1, 6, 11))
    caffe_scale = 255 * (0.229 + 0.224 + 0.225) / 3  # docs/loss-scale.md
    assert loss.feature_term(x, recon).item() == pytest.approx(caffe_scale**2 * by_hand, rel=1e-4)


def test_total_is_alpha_kl_plus_beta_reconstruction() -> None:
    config = config_from_preset("pvae", {"loss": {"kl_weight": 0.3, "recon_weight": 2.0}})
    loss = DFCVAELoss(config.loss)
    model = DFCVAE(ModelConfig(image_size=32, channels=1, latent_dim=4))
    x = torch.rand(3, 1, 32, 32)
    out = model(x)
    terms = loss(x, out)
    expected = 0.3 * kl_divergence(out.mu, out.logvar) + 2.0 * pixel_loss(out.recon_logits, x)
    assert terms.total.item() == pytest.approx(expected.item(), rel=1e-6)


def test_paper_defaults_alpha_one_beta_half_for_feature_presets() -> None:
    for preset in ("vae-123", "vae-345", "vae-all", "vae-mobilenet"):
        loss = config_from_preset(preset).loss
        assert (loss.kl_weight, loss.recon_weight) == (1.0, 0.5)


def test_kl_warmup_ramps_alpha_linearly() -> None:
    config = config_from_preset("pvae", {"loss": {"kl_weight": 2.0, "kl_warmup_steps": 100}})
    loss = DFCVAELoss(config.loss)
    assert [loss.alpha_at(s) for s in (0, 25, 100, 1000)] == [0.0, 0.5, 2.0, 2.0]


def test_ssim_colour_loss_zero_for_identical_and_colour_term_by_hand() -> None:
    x = torch.rand(2, 3, 32, 32)
    assert ssim_colour_loss(x, x).item() == pytest.approx(0.0, abs=1e-5)
    shifted = (x * 0.5).clamp(0, 1)
    pooled = [F.adaptive_avg_pool2d(t, 3) for t in (shifted, x)]
    colour = ((pooled[0] - pooled[1]) ** 2).mean().item()
    with_colour = ssim_colour_loss(shifted, x, colour_weight=1.0).item()
    without = ssim_colour_loss(shifted, x, colour_weight=0.0).item()
    assert with_colour - without == pytest.approx(colour, rel=1e-4)


def test_mix_adds_pixel_and_feature_terms() -> None:
    config = config_from_preset(
        "vae-mix", {"loss": {"loss_weights": "random", "pixel_weight": 0.1}}
    )
    with pytest.warns(UserWarning):
        loss = DFCVAELoss(config.loss)
    model = DFCVAE(ModelConfig(image_size=32, channels=3, latent_dim=4))
    x = torch.rand(2, 3, 32, 32)
    terms = loss(x, model(x))
    expected = 0.1 * terms.parts["pixel"] + terms.parts["feature"]
    assert terms.reconstruction.item() == pytest.approx(expected.item(), rel=1e-6)


def test_vae_mix_is_seed_004s_sum_of_per_element_means() -> None:
    from dfcvae.loss_networks.base import LossNetwork
    from dfcvae.loss_networks.vgg import VGG19

    torch.manual_seed(0)
    config = config_from_preset("vae-mix").loss
    network = LossNetwork(VGG19, config.layers, None)
    loss = DFCVAELoss(config, loss_network=network)
    model = DFCVAE(ModelConfig(image_size=32, channels=3, latent_dim=4))
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
        terms = loss(x, out)
        pixel = ((out.recon - x) ** 2).mean()
        feature = sum(((a - b) ** 2).mean() for a, b in zip(network(out.recon), network(x)))
        kl = (-0.5 * (1 + out.logvar - out.mu**2 - out.logvar.exp()).sum(1)).mean()
    assert terms.parts["pixel"].item() == pytest.approx(pixel.item(), rel=1e-5)
    assert terms.parts["feature"].item() == pytest.approx(feature.item(), rel=1e-4)
    expected = config.kl_weight * kl + 0.5 * (pixel + feature)
    assert terms.total.item() == pytest.approx(expected.item(), rel=1e-4)


def test_ssim_colour_preset_weighs_the_colour_term_by_its_colour_weight() -> None:
    model = DFCVAE(ModelConfig(image_size=32, channels=3, latent_dim=4))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
    reconstructions = {}
    for weight in (0.0, 5.0):
        config = config_from_preset("ssim-colour", {"loss": {"colour_weight": weight}})
        reconstructions[weight] = DFCVAELoss(config.loss)(x, out).reconstruction.item()
    pooled = [F.adaptive_avg_pool2d(t, 3) for t in (out.recon, x)]
    colour = ((pooled[0] - pooled[1]) ** 2).mean().item()
    assert colour > 0
    assert reconstructions[5.0] - reconstructions[0.0] == pytest.approx(5.0 * colour, rel=1e-4)
