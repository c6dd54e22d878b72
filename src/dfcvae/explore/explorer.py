"""The computation behind ``dfcvae explore``, free of HTTP: runs, inputs, codes and images.

An ``Explorer`` holds the runs side by side, the first run's test split (the input picker), the
uploads, each input's mu per run, and each run's attribute vectors. ``render`` turns a ``View``
(an input, maybe a second one to interpolate towards, attribute strengths) into one image per
run; ``samples`` decodes codes from a sampler (N(0, T^2 I), or each run's fitted latent prior) with
one seed for every run. Codes and the last views
are cached, so the decoder runs only when something changed.
"""

from __future__ import annotations

import math
import sys
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dfcvae.analysis import (
    MissingLabelsError,
    Run,
    attribute_vectors,
    open_run,
    read_attribute_vectors,
    save_attribute_vectors,
)
from dfcvae.analysis.attributes import VECTORS_FILE
from dfcvae.analysis.grids import lerp, sampler_codes, slerp
from dfcvae.analysis.latent_prior import Sampler, check_sampler, make_sampler
from dfcvae.analysis.latents import decode, encode
from dfcvae.analysis.runs import RunLike, run_names
from dfcvae.data.images import to_channels
from dfcvae.data.preprocess import resize
from dfcvae.errors import ConfigError, RunDirError
from dfcvae.explore.inputs import (
    MAX_BYTES,
    MAX_PIXELS,
    decode_upload,
    prepare_image,
    to_pil,
    to_tensor,
)
from dfcvae.report.images import image_grid

# The file `dfcvae attribute-vectors RUN` writes by default, so each one reuses the other's.
VECTORS_CACHE = Path("analysis") / VECTORS_FILE
ALPHA_STEPS = 101  # interpolation positions: alpha in steps of 0.01
MAX_STRENGTH = 10.0
MAX_SAMPLES = 64
MAX_TEMPERATURE = 5.0
VIEW_MEMORY = 64


@dataclass(frozen=True)
class View:
    """What the page shows: ``input`` (an input key), or the point ``alpha`` in [0, 1] on the
    way to ``other`` (lerp, or slerp when ``spherical``), plus sum_i s_i v_i over ``strengths``
    ((attribute name, s_i) pairs)."""

    input: str
    other: str | None = None
    alpha: float = 0.0
    spherical: bool = False
    strengths: tuple[tuple[str, float], ...] = field(default=())


def cached_attribute_vectors(run: Run, progress: bool = True) -> dict[str, torch.Tensor]:
    """The run's attribute vectors (name -> (latent_dim,)) from ``RUN/analysis/``, computed over
    the train split and written there atomically the first time. {} without labels."""
    path = run.run_dir / VECTORS_CACHE
    latent_dim = run.config.model.latent_dim
    if path.is_file():
        try:
            vectors = read_attribute_vectors(path)
        except RunDirError as error:
            warnings.warn(f"{error}; computing the attribute vectors again", stacklevel=2)
        else:
            if all(v.shape == (latent_dim,) for v in vectors.values()):
                return vectors
            warnings.warn(f"{path}: made for another latent size; computing again", stacklevel=2)
    if progress:
        print(
            f"{run.name}: attribute vectors over the train split, once; they are kept in {path}",
            file=sys.stderr,
        )
    try:
        vectors = attribute_vectors(run, device=str(run.device), progress=progress)
    except MissingLabelsError as error:
        warnings.warn(f"{run.name}: no attribute sliders ({error})", stacklevel=2)
        return {}
    metadata = {"run": str(run.run_dir), "split": "train", "code": "mu"}
    try:
        save_attribute_vectors(path, vectors, metadata)
    except OSError as error:
        warnings.warn(f"{path}: not cached ({error.strerror})", stacklevel=2)
    return vectors


class Explorer:
    """Runs side by side for the page. Thread-safe: model calls take one lock.

    runs: run directories (or ``Run``); the first one's test split gives the thumbnails.
    """

    def __init__(
        self,
        runs: Sequence[RunLike],
        device: str = "cpu",
        *,
        thumbnails: int = 32,
        max_uploads: int = 32,
        max_bytes: int = MAX_BYTES,
        max_pixels: int = MAX_PIXELS,
        progress: bool = True,
    ) -> None:
        if not runs:
            raise ConfigError("give at least one run directory")
        self.runs = [open_run(run, device) for run in runs]
        self.names = run_names([run.run_dir for run in self.runs])
        self.test = self.runs[0].dataset("test", progress=progress)
        self.thumbnails = list(range(min(thumbnails, len(self.test))))
        self.vectors = [cached_attribute_vectors(run, progress) for run in self.runs]
        self.attributes = list(dict.fromkeys(name for v in self.vectors for name in v))
        self.max_uploads, self.max_bytes, self.max_pixels = max_uploads, max_bytes, max_pixels
        self._scratch = tempfile.TemporaryDirectory(prefix="dfcvae-explore-")
        self._inputs: OrderedDict[str, list[torch.Tensor]] = OrderedDict()
        self._codes: dict[tuple[str, int], torch.Tensor] = {}
        self._views: OrderedDict[object, list[torch.Tensor]] = OrderedDict()
        self._samplers: dict[tuple[int, str], Sampler] = {}
        self._uploads = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        """Remove the temporary folder."""
        self._scratch.cleanup()

    # Inputs: "test/<index>" for the first run's test split, "upload/<n>" for uploads.

    def add_upload(self, data: bytes) -> str:
        """Decode, check and prepare an upload for every run; its input key. The oldest upload
        is forgotten past ``max_uploads``. Raises UploadError with a message for the page."""
        img = decode_upload(data, self._scratch.name, self.max_bytes, self.max_pixels)
        images = [prepare_image(img, run.config) for run in self.runs]
        with self._lock:
            self._uploads += 1
            key = f"upload/{self._uploads}"
            self._inputs[key] = images
            uploads = [k for k in self._inputs if k.startswith("upload/")]
            for old in uploads[: max(0, len(uploads) - self.max_uploads)]:
                del self._inputs[old]
                for index in range(len(self.runs)):
                    self._codes.pop((old, index), None)
        return key

    def preview(self, key: str) -> torch.Tensor:
        """The input as the first run sees it: (C, S, S) in [0, 1]."""
        with self._lock:
            return self.input_images(key)[0]

    def input_images(self, key: str) -> list[torch.Tensor]:
        """The input as each run sees it: one (C, S, S) in [0, 1] per run (call under the lock)."""
        if key in self._inputs:
            return self._inputs[key]
        kind, _, number = key.partition("/")
        if kind != "test" or not number.isdigit() or int(number) >= len(self.test):
            known = "a test image 0.." + str(len(self.test) - 1)
            raise ConfigError(f"unknown input {key!r}: pick {known} or upload again")
        image = self.test[int(number)][0]
        images = [self._fit(image, run) for run in self.runs]
        self._inputs[key] = images
        return images

    @staticmethod
    def _fit(image: torch.Tensor, run: Run) -> torch.Tensor:
        """A prepared image of the first run at another run's channels and size."""
        model = run.config.model
        if image.shape == (model.channels, model.image_size, model.image_size):
            return image
        img = resize(to_channels(to_pil(image), model.channels), model.image_size)
        return to_tensor(img, model.channels)

    def code(self, key: str, index: int) -> torch.Tensor:
        """mu of an input under run ``index``: (latent_dim,)."""
        if (key, index) not in self._codes:
            image = self.input_images(key)[index]
            self._codes[(key, index)] = encode(self.runs[index].model, image[None])[0]
        return self._codes[(key, index)]

    # Images.

    def render(self, view: View) -> list[torch.Tensor]:
        """One image per run, (C, S, S) in [0, 1]: the decoded code of ``view``."""
        check_view(view, self.attributes)
        with self._lock:
            if view in self._views:
                self._views.move_to_end(view)
                return self._views[view]
            images = [self._render_one(view, index) for index in range(len(self.runs))]
            self._remember(view, images)
        return images

    def _render_one(self, view: View, index: int) -> torch.Tensor:
        run, vectors = self.runs[index], self.vectors[index]
        z = self.code(view.input, index)
        if view.other is not None and view.alpha > 0:
            path = (slerp if view.spherical else lerp)(
                z[None], self.code(view.other, index)[None], ALPHA_STEPS
            )
            z = path[0, round(view.alpha * (ALPHA_STEPS - 1))]
        for name, strength in view.strengths:
            if strength and name in vectors:
                z = z + strength * vectors[name].to(z.dtype)
        return decode(run.model, z[None])[0]

    def samples(
        self, temperature: float = 1.0, seed: int = 0, n: int = 8, sampler: str = "standard"
    ) -> list[torch.Tensor]:
        """Per run, a grid (3, H, W) of ``n`` images decoded from codes of ``sampler``:
        ``standard``, z ~ N(0, T^2 I), the same z (same seed) for runs of the same latent size;
        ``fitted``, each run's density fitted to its train codes (fitted once, on first use, and
        kept in RUN/analysis/; see ``dfcvae.analysis.latent_prior``)."""
        check_samples(temperature, seed, n)
        check_sampler(sampler)
        key = ("samples", float(temperature), int(seed), int(n), sampler)
        with self._lock:
            if key in self._views:
                return self._views[key]
            grids = []
            for index, run in enumerate(self.runs):
                if (index, sampler) not in self._samplers:
                    self._samplers[index, sampler] = make_sampler(
                        run, sampler, device=str(run.device), progress=False
                    )
                z = sampler_codes(self._samplers[index, sampler], n, temperature, seed)
                grids.append(image_grid(decode(run.model, z), nrow=min(n, 4)))
            self._remember(key, grids)
        return grids

    def _remember(self, key: object, images: list[torch.Tensor]) -> None:
        self._views[key] = images
        while len(self._views) > VIEW_MEMORY:
            self._views.popitem(last=False)


def check_view(view: View, attributes: Sequence[str]) -> None:
    """One line for the page if a view cannot be drawn."""
    if not 0.0 <= view.alpha <= 1.0:
        raise ConfigError(f"alpha {view.alpha}: must be in [0, 1]")
    for name, strength in view.strengths:
        if name not in attributes:
            raise ConfigError(f"unknown attribute {name!r}")
        if not (math.isfinite(strength) and abs(strength) <= MAX_STRENGTH):
            raise ConfigError(f"{name} strength {strength}: must be in [-10, 10]")


def check_samples(temperature: float, seed: int, n: int) -> None:
    if not (math.isfinite(temperature) and 0.0 <= temperature <= MAX_TEMPERATURE):
        raise ConfigError(f"temperature {temperature}: must be in [0, {MAX_TEMPERATURE:g}]")
    if not 0 <= seed < 2**63:
        raise ConfigError(f"seed {seed}: must be a non-negative integer")
    if not 1 <= n <= MAX_SAMPLES:
        raise ConfigError(f"{n} samples: must be 1 to {MAX_SAMPLES}")
