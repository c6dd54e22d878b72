"""The VAE's architecture: shapes at every supported size, the paper's blocks, output range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dfcvae import DFCVAE, ModelConfig
from dfcvae.analysis.latents import decode, encode
from dfcvae.errors import ConfigError
from dfcvae.saved.model_files import load_run, save_model
from dfcvae.vae.model import decoder_block, evaluating
from dfcvae.vae.run_config import RunConfig
from tests.model_layers import ORIGINAL_128, layer_list


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


def test_decoder_block_runs_the_papers_layers_in_order() -> None:
    """Each layer of a decoder block is called, in the order drawn (forward hooks see them all),
    and its settings matter: a bilinear Upsample gives another image than a nearest one."""
    torch.manual_seed(0)
    block = decoder_block(4, 3)
    x = torch.randn(2, 4, 5, 5)
    by_hand = x.repeat_interleave(2, -1).repeat_interleave(2, -2)
    by_hand = block[2](F.pad(by_hand, (1, 1, 1, 1), mode="replicate"))
    by_hand = F.leaky_relu(block[3](by_hand), 0.2)
    called = []
    for layer in block:
        layer.register_forward_hook(lambda m, i, o: called.append(type(m).__name__))
    torch.testing.assert_close(block(x), by_hand)
    assert called == ["Upsample", "ReplicationPad2d", "Conv2d", "BatchNorm2d", "LeakyReLU"]
    block[0].mode = "bilinear"
    assert not torch.allclose(block(x), by_hand, atol=1e-3)


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
     ({"channels": 2}, "channels"), ({"widths": [8, 16]}, "model.widths"),
     ({"architecture": "dcgan"}, "model.architecture='dcgan'"),
     ({"architecture": "original-128", "image_size": 64}, "--image-size 64.*original-128")],
)  # fmt: skip
def test_invalid_model_config_names_the_option(changes: dict, option: str) -> None:
    with pytest.raises(ConfigError, match=option):
        ModelConfig(**changes).validate()


def test_original_128_is_the_original_codes_network() -> None:
    torch.manual_seed(0)
    model = DFCVAE(ModelConfig(image_size=128, channels=3, architecture="original-128"))
    assert layer_list(model) == ORIGINAL_128
    out = model(torch.rand(2, 3, 128, 128))
    assert out.recon.shape == (2, 3, 128, 128) and out.mu.shape == (2, 100)
    norms = torch.cat([m.weight for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
    assert norms.mean().item() == pytest.approx(1.0, abs=0.005)
    assert norms.std().item() == pytest.approx(0.02, rel=0.15)


def test_paper_net_at_128_is_the_generalised_net() -> None:
    layers = layer_list(DFCVAE(ModelConfig(image_size=128)))
    assert "conv4x4/2 pad1 256->512" in layers and "linear 8192->100" in layers
    assert layers.count("lrelu 0.2") == 5 + 4 and "bn 256 eps=0.001" not in layers


@pytest.mark.parametrize("architecture,size", [("paper", 64), ("original-128", 128)])
def test_parameter_estimate_is_close_to_the_count(architecture: str, size: int) -> None:
    config = ModelConfig(image_size=size, architecture=architecture)
    count = sum(p.numel() for p in DFCVAE(config).parameters())
    assert config.parameter_estimate == pytest.approx(count, rel=0.01)


def _decoder_map(model: DFCVAE, z: torch.Tensor) -> torch.Tensor:
    """What the decoder's first block receives: the (N, W, 4, 4) map after the Linear layer."""
    seen = []
    hook = model.decoder.features[0].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    model.decode(z)
    hook.remove()
    return seen[0]


def test_decoder_has_a_relu_after_its_linear_layer_unless_turned_off() -> None:
    torch.manual_seed(0)
    z = torch.randn(8, 100)
    with_relu = DFCVAE(ModelConfig(image_size=32)).eval()
    without = DFCVAE(ModelConfig(image_size=32, decoder_relu=False)).eval()
    without.load_state_dict(with_relu.state_dict())  # a ReLU adds no parameters
    plain = _decoder_map(without, z)
    assert plain.min() < 0
    torch.testing.assert_close(_decoder_map(with_relu, z), plain.clamp_min(0))


def test_runs_saved_before_decoder_relu_load_without_it(tmp_path: Path) -> None:
    config = RunConfig(model=ModelConfig(image_size=32, channels=1, latent_dim=8))
    config.model.decoder_relu = False
    model = DFCVAE(config.model).eval()
    save_model(tmp_path, model, config)
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["model"]["decoder_relu"]  # a config.json written before the option existed,
    del saved["format"]  # before its format was recorded
    (tmp_path / "config.json").write_text(json.dumps(saved))
    loaded, loaded_config = load_run(tmp_path)
    assert loaded_config.model.decoder_relu is False
    z = torch.randn(4, 8)
    torch.testing.assert_close(loaded.decode(z), model.decode(z))


def _batchnorm_state(model: nn.Module) -> list[torch.Tensor]:
    return [
        t.clone()
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d)
        for t in (m.running_mean, m.running_var, m.num_batches_tracked)
    ]


def test_sampling_uses_running_statistics_and_leaves_modes_alone() -> None:
    torch.manual_seed(0)
    model = DFCVAE(ModelConfig(image_size=32, channels=1, latent_dim=8))
    model(torch.rand(16, 1, 32, 32))  # one training-mode pass: running stats away from init
    model.train()
    model.encoder.eval()  # mixed modes must come back as they were
    before = _batchnorm_state(model)
    samples = model.sample(6, generator=torch.Generator().manual_seed(1))
    assert model.training and model.decoder.training and not model.encoder.training
    for old, new in zip(before, _batchnorm_state(model), strict=True):
        assert torch.equal(old, new)
    model.eval()
    expected = model.sample(6, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(samples, expected)


def test_analysis_encode_and_decode_run_in_eval_mode() -> None:
    torch.manual_seed(0)
    model = DFCVAE(ModelConfig(image_size=32, channels=1, latent_dim=8))
    model(torch.rand(16, 1, 32, 32))
    images = torch.rand(5, 1, 32, 32)
    before = _batchnorm_state(model)
    mu = encode(model.train(), images, batch_size=2)
    recon = decode(model, mu, batch_size=2)
    assert model.training and all(m.training for m in model.modules())
    for old, new in zip(before, _batchnorm_state(model), strict=True):
        assert torch.equal(old, new)
    with torch.no_grad(), evaluating(model):
        torch.testing.assert_close(mu, model.encode(images)[0])
        torch.testing.assert_close(recon, model.decode(mu))
    assert model.training


def test_evaluating_restores_modes_after_an_error() -> None:
    model = DFCVAE(ModelConfig(image_size=32, channels=1, latent_dim=8)).train()
    with pytest.raises(RuntimeError), evaluating(model):
        assert not model.training
        raise RuntimeError("inside")
    assert all(m.training for m in model.modules())
