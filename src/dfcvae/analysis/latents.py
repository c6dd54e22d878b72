"""Latent codes: the encoder's mean mu (and log-variance) for batches of images or for a whole
split, and images of codes. The model always runs in eval mode here (``evaluating``), whatever
mode it was given in; its mode is restored afterwards."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from dfcvae.vae.model import DFCVAE, evaluating


@torch.no_grad()
def encode_posterior(
    model: DFCVAE, images: torch.Tensor, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, logvar) of q(z|x) for each image: (N, C, H, W) in [0, 1] -> two (N, latent_dim)
    float32 tensors on the CPU."""
    device = next(model.parameters()).device
    with evaluating(model):
        parts = [model.encode(chunk.to(device)) for chunk in images.split(batch_size)]
    mu = torch.cat([mu.float().cpu() for mu, _ in parts])
    return mu, torch.cat([logvar.float().cpu() for _, logvar in parts])


def encode(model: DFCVAE, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """mu of each image: (N, C, H, W) in [0, 1] -> (N, latent_dim) float32 on the CPU."""
    return encode_posterior(model, images, batch_size)[0]


@torch.no_grad()
def decode(model: DFCVAE, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Images of latent codes: (N, latent_dim) -> (N, C, H, W) in [0, 1], float32 on the CPU."""
    device = next(model.parameters()).device
    with evaluating(model):
        parts = [model.decode(chunk.to(device)).float().cpu() for chunk in z.split(batch_size)]
    return torch.cat(parts)


@torch.no_grad()
def encode_dataset(
    model: DFCVAE, dataset, batch_size: int = 256, progress: bool = True, desc: str = "encoding"
) -> torch.Tensor:
    """mu of every image of ``dataset`` (items ``(image, label)``), in order: (N, latent_dim)."""
    device = next(model.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    parts = []
    with evaluating(model):
        for images, _ in tqdm(loader, desc=desc, unit="batch", disable=not progress, leave=False):
            parts.append(model.encode(images.to(device))[0].float().cpu())
    return torch.cat(parts)
