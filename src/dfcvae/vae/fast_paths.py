"""Faster forms of two pieces of the model and the loss, each the same function as the plain form
(tested equal in tests/test_fast_path.py and tests/test_precision_losses.py), chosen where the
model or the loss is built; docs/benchmarks.md measures what each buys.

- ``FusedDecoderBlock`` (chosen by ``fuse_decoder``): a decoder block's nearest upsampling x2,
  replication padding and 3x3 convolution as one transposed convolution of the small padded
  image, with the block's own layers and state dict. It runs the plain layers instead whenever a
  hook watches the upsampling or the convolution, or their settings differ from the paper's.
- ``fused_squared_error_mean`` (chosen by ``PerceptualLoss(fused=True)``): the feature
  perceptual loss's mean squared error in fp32, read from the maps in their own dtype and
  layout instead of from fp32 copies.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as module_hooks

from dfcvae.vae.model import DFCVAE, DecoderBlock

# Row k of the 4x4 kernel that ``upsample_conv`` applies sums these taps of a 3x3 kernel's rows
# (and likewise for columns): each output pixel of a 3x3 convolution of a nearest-upsampled (x2),
# replication-padded image reads only two rows and two columns of the small padded image.
UPSAMPLED_TAPS = ((0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0))


def upsample_conv(
    padded: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, taps: torch.Tensor
) -> torch.Tensor:
    """conv3x3(replication_pad1(upsample_nearest2(x)), weight, bias), computed from ``padded``
    = replication_pad1(x) as a transposed convolution with stride 2 of a 4x4 kernel of sums of
    the 3x3 taps: the same function (equal up to rounding) with 16 instead of 36 multiplies per
    pixel of the small image, and no upsampled image in memory. taps: ``UPSAMPLED_TAPS`` as a
    (4, 3) tensor on the weight's device."""
    kernel = torch.einsum("ka,oiab,lb->iokl", taps.to(weight.dtype), weight, taps.to(weight.dtype))
    if padded.is_contiguous(memory_format=torch.channels_last):
        kernel = kernel.contiguous(memory_format=torch.channels_last)
    return F.conv_transpose2d(padded, kernel, bias, stride=2, padding=3)


def has_hooks(*modules: nn.Module) -> bool:
    """Whether a forward or backward hook (of these modules, or a global one) would see them."""
    global_hooks = (
        module_hooks._global_forward_hooks,
        module_hooks._global_forward_pre_hooks,
        module_hooks._global_backward_hooks,
        module_hooks._global_backward_pre_hooks,
    )
    if any(global_hooks):
        return True
    return any(
        m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
        for m in modules
    )


def fusable(upsample: nn.Module, pad: nn.Module, conv: nn.Module) -> bool:
    """Whether the three layers are the paper's: nearest x2, replication padding of 1, 3x3
    convolution with stride 1 and no padding of its own."""
    scale = upsample.scale_factor if type(upsample) is nn.Upsample else None
    return (
        scale in (2, (2, 2))
        and upsample.mode == "nearest"
        and isinstance(pad, nn.ReplicationPad2d)
        and tuple(pad.padding) == (1, 1, 1, 1)
        and type(conv) is nn.Conv2d
        and conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (0, 0)
        and conv.dilation == (1, 1)
        and conv.groups == 1
    )


class FusedDecoderBlock(DecoderBlock):
    """A ``DecoderBlock`` whose first three layers run as one ``upsample_conv``; same layers,
    same state dict (``taps`` is a buffer that no state dict holds)."""

    def __init__(self, *args: nn.Module | OrderedDict[str, nn.Module]):
        super().__init__(*args)
        first_parameter = next(self.parameters(), None)
        device = first_parameter.device if first_parameter is not None else None
        taps = torch.tensor(UPSAMPLED_TAPS, device=device)
        self.register_buffer("taps", taps, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self) < 3:
            return super().forward(x)
        upsample, pad, conv, *rest = self
        if not fusable(upsample, pad, conv) or has_hooks(upsample, conv):
            return super().forward(x)  # the paper's layers, one after the other
        h = upsample_conv(pad(x), conv.weight, conv.bias, self.taps)
        for layer in rest:
            h = layer(h)
        return h


def fuse_decoder(model: DFCVAE, fused: bool = True) -> DFCVAE:
    """Run ``model``'s decoder blocks as ``FusedDecoderBlock`` (or, with ``fused=False``, as the
    plain ``DecoderBlock``), in place; the layers and their weights are the same objects."""
    blocks = model.decoder.features
    form = FusedDecoderBlock if fused else DecoderBlock
    for index, block in enumerate(blocks):
        if isinstance(block, DecoderBlock) and type(block) is not form:
            replacement = form(OrderedDict(block.named_children()))
            replacement.training = block.training
            blocks[index] = replacement
    return model


# Elements per piece of a feature map in ``SquaredErrorMean`` on CPU: 1 MiB of fp32, the size of
# a Zen 4 or Zen 5 core's L2 cache, so each piece's fp32 difference stays in cache instead of
# going through memory (docs/benchmarks.md).
CPU_PIECE = 1 << 18


def _channels_last(a: torch.Tensor) -> bool:
    return (
        a.dim() == 4
        and not a.is_contiguous()
        and a.is_contiguous(memory_format=torch.channels_last)
    )


def _flat(a: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A 1-d view of a contiguous map, or of a channels-last one in its (N, H, W, C) order."""
    if channels_last:
        return a.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).reshape(-1)
    return a.contiguous().view(-1)


def _pieces(n: int, device: torch.device) -> list[slice]:
    step = CPU_PIECE if device.type == "cpu" else max(n, 1)
    return [slice(start, start + step) for start in range(0, n, step)]


class SquaredErrorMean(torch.autograd.Function):
    """mean((recon - target)^2) over every element, computed in fp32 whatever the inputs' dtype
    (bf16 feature maps under autocast) and returned as an fp32 scalar; the gradient goes to
    ``recon`` alone, in its dtype and layout. ``F.mse_loss`` on fp32 copies gives the same
    value; this reads the maps once per pass instead of writing and reading fp32 copies of them
    (on CPU, ``CPU_PIECE`` elements at a time, through the cache)."""

    @staticmethod
    def forward(ctx, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        layout = _channels_last(recon)
        r, t = _flat(recon, layout), _flat(target.detach(), layout)
        ctx.save_for_backward(recon, target.detach())
        total = torch.zeros((), dtype=torch.float32, device=r.device)
        with torch.autocast(r.device.type, enabled=False):
            for piece in _pieces(r.numel(), r.device):
                diff = r[piece].to(torch.float32, copy=True).sub_(t[piece])
                total += diff.square_().sum()
        return total / r.numel()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: ANN001
        recon, target = ctx.saved_tensors
        layout = _channels_last(recon)
        memory_format = torch.channels_last if layout else torch.contiguous_format
        out = torch.empty_like(recon, memory_format=memory_format)
        r, t, flat_out = _flat(recon, layout), _flat(target, layout), _flat(out, layout)
        coefficient = grad.float() * (2.0 / r.numel())
        with torch.autocast(r.device.type, enabled=False):
            for piece in _pieces(r.numel(), r.device):
                diff = r[piece].to(torch.float32, copy=True).sub_(t[piece])
                flat_out[piece].copy_(diff.mul_(coefficient))
        return out, None


def fused_squared_error_mean(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``perceptual.squared_error_mean``, by ``SquaredErrorMean``: an fp32 scalar."""
    return SquaredErrorMean.apply(recon, target)
