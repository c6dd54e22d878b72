"""Export a trained VAE for use without dfcvae: ONNX files of the encoder (image -> μ, log σ²)
and the decoder (z -> image), checked against PyTorch with onnxruntime.

``DFCVAE.forward`` returns a dataclass, which exporters cannot carry; the two wrappers here
return plain tensors. Both files take any batch size:

- ``encoder.onnx``: ``image`` (N, C, S, S) float32 in [0, 1] -> ``mu``, ``logvar`` (N, latent);
- ``decoder.onnx``: ``z`` (N, latent) float32 -> ``image`` (N, C, S, S) in [0, 1].

Writing needs the ``onnx`` package and checking needs ``onnxruntime`` (the ``export`` extra).
The files are written by torch's TorchScript-based exporter (``dynamo=False``), deprecated since
torch 2.9 but needing no ``onnxscript``; tested with torch 2.14. TorchScript itself is not
offered: torch 2.14 deprecates ``torch.jit.trace`` in favour of ``torch.export``.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dfcvae.errors import ConfigError, DFCVAEError, first_line
from dfcvae.files import atomic_write
from dfcvae.vae.model import DFCVAE

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
# Largest |ONNX Runtime - PyTorch| accepted by ``check_onnx``, on μ, log σ² and the image alike:
# float32 kernels that sum in another order differ by about 1e-6 on these magnitudes.
ONNX_TOLERANCE = 1e-4


class EncoderForExport(nn.Module):
    """image (N, C, S, S) in [0, 1] -> (mu, logvar), each (N, latent_dim)."""

    def __init__(self, model: DFCVAE):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.encode(image)


class DecoderForExport(nn.Module):
    """z (N, latent_dim) -> image (N, C, S, S) in [0, 1]."""

    def __init__(self, model: DFCVAE):
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z)


def export_onnx(model: DFCVAE, directory: str | Path) -> list[Path]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` of ``model`` (in eval mode: BatchNorm's
    running statistics) into ``directory``; ``model`` itself is left as it was."""
    frozen = copy.deepcopy(model).float().cpu().eval()
    config = frozen.config
    image = torch.rand(2, config.channels, config.image_size, config.image_size)
    z = torch.randn(2, config.latent_dim)
    directory = Path(directory)
    parts = [
        (EncoderForExport(frozen), image, ENCODER_FILE, ["image"], ["mu", "logvar"]),
        (DecoderForExport(frozen), z, DECODER_FILE, ["z"], ["image"]),
    ]
    return [write_onnx(*part, directory) for part in parts]


def write_onnx(
    module: nn.Module,
    example: torch.Tensor,
    name: str,
    inputs: list[str],
    outputs: list[str],
    directory: Path,
) -> Path:
    """One module as an ONNX file with a dynamic batch axis, written atomically."""
    module.eval()  # the exporter gives the wrapper its own mode back, and a new one trains
    batch = {name: {0: "batch"} for name in [*inputs, *outputs]}
    options = {"input_names": inputs, "output_names": outputs, "dynamic_axes": batch}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        options["dynamo"] = False  # the TorchScript-based exporter needs no onnxscript

    def write(tmp: Path) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's notes on its own deprecation
            torch.onnx.export(module, (example,), str(tmp), **options)

    try:
        return atomic_write(directory / name, write)
    except (ImportError, ModuleNotFoundError) as error:
        raise ConfigError(
            f"ONNX export needs the onnx package: pip install 'dfcvae[export]' ({error})"
        ) from None
    except DFCVAEError:
        raise
    except Exception as error:  # noqa: BLE001 - the exporter's own failures, in one line
        raise DFCVAEError(f"ONNX export of {name} failed: {first_line(error)}") from None


@torch.no_grad()
def check_onnx(model: DFCVAE, directory: str | Path, n: int = 4, seed: int = 0) -> dict:
    """Run the exported files with onnxruntime on ``n`` seeded inputs and return the largest
    absolute difference from PyTorch for ``mu``, ``logvar`` and ``image``; a ``DFCVAEError``
    when one exceeds ``ONNX_TOLERANCE``."""
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("checking needs onnxruntime: pip install 'dfcvae[export]'") from None
    frozen = copy.deepcopy(model).float().cpu().eval()
    config = frozen.config
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(
        n, config.channels, config.image_size, config.image_size, generator=generator
    )
    z = torch.randn(n, config.latent_dim, generator=generator)
    directory = Path(directory)

    def run(name: str, feed: dict[str, torch.Tensor]) -> list[np.ndarray]:
        session = onnxruntime.InferenceSession(
            str(directory / name), providers=["CPUExecutionProvider"]
        )
        return session.run(None, {key: value.numpy() for key, value in feed.items()})

    mu, logvar = run(ENCODER_FILE, {"image": image})
    (decoded,) = run(DECODER_FILE, {"z": z})
    expected = {"mu": frozen.encode(image)[0], "logvar": frozen.encode(image)[1]}
    expected["image"] = frozen.decode(z)
    got = {"mu": mu, "logvar": logvar, "image": decoded}
    errors = {key: float(np.abs(got[key] - expected[key].numpy()).max()) for key in got}
    worst = max(errors, key=errors.get)
    if errors[worst] > ONNX_TOLERANCE:
        raise DFCVAEError(
            f"{directory}: ONNX Runtime differs from PyTorch by {errors[worst]:.2e} on "
            f"{worst} (tolerance {ONNX_TOLERANCE:g})"
        )
    return errors
