"""The VAE's layers as a flat list of short descriptions, and the original code's 128-pixel net
written out from its ``CVAE.lua`` (see docs and the README's CelebA section)."""

from __future__ import annotations

from torch import nn

from dfcvae import DFCVAE


def describe(module: nn.Module) -> str | None:
    """One layer as text, e.g. ``conv4x4/2 3->32``, ``bn 32 eps=1e-05``, ``lrelu 0.2``."""
    if isinstance(module, nn.Conv2d):
        k, s = module.kernel_size[0], module.stride[0]
        return f"conv{k}x{k}/{s} pad{module.padding[0]} {module.in_channels}->{module.out_channels}"
    if isinstance(module, nn.BatchNorm2d):
        return f"bn {module.num_features} eps={module.eps:g}"
    if isinstance(module, nn.LeakyReLU):
        return f"lrelu {module.negative_slope:g}"
    if isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.Linear):
        return f"linear {module.in_features}->{module.out_features}"
    if isinstance(module, nn.Upsample):
        return f"up{module.scale_factor:g} {module.mode}"
    if isinstance(module, nn.ReplicationPad2d):
        return f"reppad{module.padding[0]}"
    return None


def layer_list(model: DFCVAE) -> list[str]:
    """The encoder's blocks, its mean / log-variance Linear layers, then the decoder in order."""
    parts = [
        *model.encoder.features.modules(),
        model.encoder.fc_mu,
        model.encoder.fc_logvar,
        model.decoder.fc,
        model.decoder.fc_activation,
        *model.decoder.features.modules(),
    ]
    return [text for text in map(describe, parts) if text is not None]


def _encoder_block(i: int, o: int, activation: bool = True) -> list[str]:
    return [f"conv4x4/2 pad1 {i}->{o}", f"bn {o} eps=1e-05"] + ["lrelu 0.2"] * activation


def _decoder_block(i: int, o: int) -> list[str]:
    return ["up2 nearest", "reppad1", f"conv3x3/1 pad0 {i}->{o}", f"bn {o} eps=0.001", "lrelu 0.2"]


# CVAE.lua, 128 pixels, nc 3, nz 100, ngf = ndf = 32.
ORIGINAL_128 = [
    *_encoder_block(3, 32),
    *_encoder_block(32, 64),
    *_encoder_block(64, 128),
    *_encoder_block(128, 256),
    *_encoder_block(256, 256, activation=False),  # BatchNorm, no activation, then the view
    "linear 4096->100",  # mean
    "linear 4096->100",  # log variance
    "linear 100->8192",  # 512 x 4 x 4
    "relu",
    *_decoder_block(512, 256),
    *_decoder_block(256, 128),
    *_decoder_block(128, 64),
    *_decoder_block(64, 32),
    "up2 nearest",
    "reppad1",
    "conv3x3/1 pad0 32->3",  # no BatchNorm, no activation
]
