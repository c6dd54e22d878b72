"""The DFC-VAE's encoder and decoder (Hou et al., WACV 2017, Section 3.1).

Encoder: blocks of Conv 4x4 / stride 2 / padding 1 -> BatchNorm -> LeakyReLU(0.2), each halving
the image, until it is 4x4; then two Linear layers give mu and log sigma^2 of the latent code.
Decoder: Linear(latent -> width * 4 * 4) -> ReLU (``decoder_relu``, as in the original code),
then blocks of nearest upsample x2 -> ReplicationPad2d(1) -> Conv 3x3 -> BatchNorm ->
LeakyReLU(0.2); the last block has no BatchNorm and no activation.

Every layer runs in the order listed, so forward hooks and the layers' settings behave as in any
``nn.Sequential``. Faster forms of the same functions (the decoder block as one transposed
convolution) live in ``dfcvae.vae.fast_paths`` and are chosen where the model is built for training
or loaded (``fast_paths.fuse_decoder``).

``ModelConfig.architecture``:

- ``"paper"``: the image size sets the number of blocks: 32 -> 3, 64 -> 4 (the paper's net),
  128 -> 5 (a generalisation); the decoder mirrors the encoder's widths.
- ``"original-128"``: the original Torch code's 128-pixel net (``CVAE.lua``): encoder 32, 64,
  128, 256, 256, the last block with BatchNorm and no activation before the Linear layers;
  decoder Linear -> ReLU -> 512x4x4, then 512 -> 256 -> 128 -> 64 -> 32 -> C with BatchNorm
  eps 1e-3.

Output range: the last convolution gives logits; ``recon = sigmoid(logits)`` puts reconstructions
in [0, 1], the range of the input images, so the pixel and feature losses compare like with like.
The original code has no output activation: its decoder writes the loss network's input scale
(Caffe BGR, 0-255 minus the mean pixel) directly. Here the loss network converts [0, 1] images to
its own input scale, for the input and the reconstruction alike, for both architectures.

Sampling, reconstruction and the other analyses run the model through ``evaluating(model)``:
eval mode (BatchNorm uses and keeps its running statistics), the caller's modes restored after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from dfcvae.vae.model_config import ModelConfig


@dataclass
class VAEOutput:
    """What ``DFCVAE.forward`` returns.

    recon: (N, C, H, W) in [0, 1]; recon_logits: the same before the sigmoid;
    mu, logvar, z: (N, latent_dim).
    """

    recon: torch.Tensor
    recon_logits: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor


def encoder_block(in_channels: int, out_channels: int, activation: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1),
        nn.BatchNorm2d(out_channels),
    ]
    if activation:
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class ReplicationPad2d(nn.ReplicationPad2d):
    """``nn.ReplicationPad2d``; under ``torch.compile`` written as a gather of clamped indices,
    because inductor (torch 2.14) mis-strides ``replication_pad2d_backward`` and the compiled
    backward fails. Same values, same state dict."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.compiler.is_compiling():
            return super().forward(x)
        left, right, top, bottom = self.padding
        rows = torch.arange(-top, x.shape[-2] + bottom, device=x.device).clamp(0, x.shape[-2] - 1)
        cols = torch.arange(-left, x.shape[-1] + right, device=x.device).clamp(0, x.shape[-1] - 1)
        return x[:, :, rows][:, :, :, cols]


class DecoderBlock(nn.Sequential):
    """Upsample x2 (nearest) -> ReplicationPad2d(1) -> Conv 3x3 [-> BatchNorm -> LeakyReLU], run
    one layer after the other. ``dfcvae.vae.fast_paths.FusedDecoderBlock`` computes the same block
    with the same layers (and so the same state dict) faster."""


def decoder_block(
    in_channels: int, out_channels: int, last: bool = False, eps: float = 1e-5
) -> DecoderBlock:
    layers: list[nn.Module] = [
        nn.Upsample(scale_factor=2, mode="nearest"),
        ReplicationPad2d(1),
        nn.Conv2d(in_channels, out_channels, 3, stride=1),
    ]
    if not last:
        layers += [nn.BatchNorm2d(out_channels, eps=eps), nn.LeakyReLU(0.2, inplace=True)]
    return DecoderBlock(*layers)


class Encoder(nn.Module):
    """x: (N, C, S, S) in [0, 1] -> (mu, logvar), each (N, latent_dim)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        widths = config.block_widths
        ins = [config.channels, *widths[:-1]]
        last_activation = config.architecture != "original-128"
        self.features = nn.Sequential(
            *(
                encoder_block(i, o, activation=k < len(widths) - 1 or last_activation)
                for k, (i, o) in enumerate(zip(ins, widths))
            )
        )
        flat = widths[-1] * config.bottleneck_size**2
        self.fc_mu = nn.Linear(flat, config.latent_dim)
        self.fc_logvar = nn.Linear(flat, config.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)


class Decoder(nn.Module):
    """z: (N, latent_dim) -> logits (N, C, S, S); apply a sigmoid for an image in [0, 1]."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        ins = config.decoder_widths
        self.start_channels = ins[0]
        self.start_size = config.bottleneck_size
        self.fc = nn.Linear(config.latent_dim, ins[0] * self.start_size**2)
        self.fc_activation = nn.ReLU() if config.decoder_relu else nn.Identity()
        outs = [*ins[1:], config.channels]
        eps = 1e-3 if config.architecture == "original-128" else 1e-5
        self.features = nn.Sequential(
            *(
                decoder_block(i, o, last=k == len(outs) - 1, eps=eps)
                for k, (i, o) in enumerate(zip(ins, outs))
            )
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc_activation(self.fc(z))
        h = h.view(-1, self.start_channels, self.start_size, self.start_size)
        return self.features(h)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode inside the block, then give every submodule back the mode it
    had: BatchNorm normalises with its running statistics and does not update them, whatever
    mode the caller left the model in."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


class DFCVAE(nn.Module):
    """The variational autoencoder trained with a feature perceptual loss (or a pixel loss: PVAE).

    The loss is not part of the model: see ``dfcvae.vae.losses``. The model holds only the
    encoder and the decoder, so model files never contain the loss network.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Conv weights ~ N(0, 0.02), as in the original code; BatchNorm weights ~ N(1, 0.02)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N, C, S, S) in [0, 1] -> mu, logvar: (N, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (N, latent_dim) -> image (N, C, S, S) in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    @staticmethod
    def reparameterize(
        mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I): sampling that gradients can pass through."""
        eps = torch.randn_like(mu) if eps is None else eps.to(mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> VAEOutput:
        """x: (N, C, S, S) in [0, 1]. In training mode z is sampled (with the given noise
        ``eps`` (N, latent_dim) if any); in eval mode z = mu."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, eps) if self.training else mu
        logits = self.decoder(z)
        return VAEOutput(torch.sigmoid(logits), logits, mu, logvar, z)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        sampler=None,
    ):
        """n images decoded from codes of ``sampler``: (n, C, S, S) in [0, 1]; always in eval
        mode (the model's mode is restored afterwards).

        sampler: any object with ``draw(n, temperature, generator) -> (n, latent_dim)`` codes.
        None (the default): z ~ N(0, temperature^2 I), the paper's prior, because the bare
        model has no data to fit a density on; this differs from ``dfcvae sample``, evaluate
        and explore, whose default is a run's fitted density. For that one, pass
        ``dfcvae.analysis.latent_prior.make_sampler(run_dir)`` (``"fitted"``, fitted once on
        the run's train split and kept in RUN/analysis/)."""
        device = next(self.parameters()).device
        if sampler is None:
            z = torch.randn(n, self.config.latent_dim, generator=generator) * temperature
        else:
            z = sampler.draw(n, temperature, generator)
        z = z.to(device)
        with evaluating(self):
            return self.decode(z)
