"""``dfcvae explore``: the latent space of trained runs in the browser.

Pick or upload an image, see every run's reconstruction side by side, move attribute sliders,
interpolate between two inputs (lerp or slerp) and draw samples. ``Explorer`` computes (no
HTTP); ``serve`` puts it behind a local page (see docs/explore.md).
"""

from dfcvae.explore.explorer import Explorer, View, cached_attribute_vectors
from dfcvae.explore.inputs import UploadError, decode_upload, prepare_image
from dfcvae.explore.memory import return_large_blocks
from dfcvae.explore.server import make_server, serve

__all__ = [
    "Explorer",
    "UploadError",
    "View",
    "cached_attribute_vectors",
    "decode_upload",
    "make_server",
    "prepare_image",
    "return_large_blocks",
    "serve",
]
