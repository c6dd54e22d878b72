"""LPIPS (learned perceptual image patch similarity, torchmetrics, AlexNet backbone): an
evaluation metric, not the paper's feature perceptual loss (``dfcvae.vae.losses``).

torchmetrics ships LPIPS's linear layers, but the AlexNet backbone comes from torchvision's
ImageNet weights: present in the torch hub cache, or downloaded unless ``DFCVAE_OFFLINE`` says
offline (``dfcvae.offline``). Without them LPIPS is reported as unavailable, with the reason.
"""

from __future__ import annotations

import torch
from torch import nn

from dfcvae.analysis.feature_spaces import FeatureSpaceUnavailable, three_channels
from dfcvae.errors import DFCVAEError, first_line
from dfcvae.loss_networks.weights import (
    WeightSource,
    download_weights,
    hub_cache_path,
    local_weights,
)
from dfcvae.offline import is_offline


def alexnet_weights() -> WeightSource:
    from torchvision.models import AlexNet_Weights

    url = AlexNet_Weights.IMAGENET1K_V1.url
    return WeightSource(filename=url.rsplit("/", 1)[-1], url=url)


def lpips_network(device: str | torch.device = "cpu") -> nn.Module:
    """torchmetrics' LPIPS network (AlexNet); raises ``FeatureSpaceUnavailable`` with the reason
    when the backbone's ImageNet weights are not here."""
    source = alexnet_weights()
    path, _ = local_weights(source)
    if path is None:
        if is_offline():
            raise FeatureSpaceUnavailable(
                f"LPIPS needs torchvision's AlexNet weights {source.filename} in "
                f"{hub_cache_path(source.filename).parent} (DFCVAE_OFFLINE is set)"
            )
        try:
            download_weights(source)
        except DFCVAEError as error:
            raise FeatureSpaceUnavailable(f"LPIPS AlexNet weights: {error}") from None
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    try:
        metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)
    except Exception as error:  # noqa: BLE001 - any failure to build it makes it unavailable
        raise FeatureSpaceUnavailable(f"LPIPS could not be built ({first_line(error)})") from None
    return metric.net.to(device).eval()


@torch.no_grad()
def lpips_per_image(network: nn.Module, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """LPIPS per image pair: (N, C, H, W) in [0, 1] twice -> (N,) float64, 0 for identical."""
    device = next(network.parameters()).device
    a = three_channels(recon).to(device)
    b = three_channels(target).to(device)
    return network(a, b, normalize=True).flatten().double().cpu()
