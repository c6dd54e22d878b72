"""The computation behind ``dfcvae explore``, free of HTTP: runs, inputs, codes and images.

An ``Explorer`` holds the runs side by side, the first run's test split (the input picker), the
uploads, each input's mu per run, and each run's attribute vectors. ``render`` turns a ``View``
(an input, maybe a second one to interpolate towards, attribute strengths) into one image per
run; ``samples`` decodes codes from a sampler (each run's fitted latent prior by default, or
N(0, T^2 I)) with one seed for every run. Each run's fitted density is read back (or fitted once
and kept in RUN/analysis/) before the page is served, so no request waits on a fit. Codes and
the last views are cached, so the decoder runs only when something changed.
"""

from __future__ import annotations

import hashlib
import math
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from dfcvae.analysis import (
    Run,
    open_run,
)
from dfcvae.analysis.fingerprint import run_fingerprint
from dfcvae.analysis.grids import lerp, sampler_codes, slerp
from dfcvae.analysis.latent_prior import (
    DEFAULT_SAMPLER,
    SAMPLERS,
    Sampler,
    check_sampler,
    make_sampler,
)
from dfcvae.analysis.latents import decode, encode
from dfcvae.analysis.run_vectors import cached_attribute_vectors
from dfcvae.analysis.runs import RunLike, run_names
from dfcvae.data.images import to_channels
from dfcvae.data.prepare import work_side
from dfcvae.data.preprocess import resize
from dfcvae.errors import ConfigError, DFCVAEError, first_line
from dfcvae.explore.guard import ascii_int
from dfcvae.explore.inputs import (
    MAX_BYTES,
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    decode_upload,
    prepare_image,
    to_pil,
    to_tensor,
)
from dfcvae.files import CONFIG_FILE, MODEL_FILE
from dfcvae.report.images import image_grid

ALPHA_STEPS = 101  # interpolation positions: alpha in steps of 0.01
MAX_STRENGTH = 10.0
MAX_SAMPLES = 64
MAX_TEMPERATURE = 5.0
VIEW_MEMORY = 64
MAX_DECODES = 2  # uploads decoded at once; more wait their turn


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


def runs_fingerprint(runs: Sequence[Run]) -> str:
    """12 hex digits that change when any run's model file or config changes, or the runs or
    their order do: part of the thumbnails' URLs, so that a browser never shows a cached
    image of other runs."""
    digest = hashlib.sha256()
    for run in runs:
        if all((run.run_dir / name).is_file() for name in (CONFIG_FILE, MODEL_FILE)):
            digest.update(run_fingerprint(run.run_dir).encode())
        else:  # a Run built in memory: its config and weights instead
            digest.update(repr(run.config).encode())
            for tensor in run.model.state_dict().values():
                digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


class Explorer:
    """Runs side by side for the page. Thread-safe: model calls take one lock.

    runs: run directories (or ``Run``); the first one's test split gives the thumbnails.
    max_uploads, max_test_inputs: inputs kept prepared (with their codes), the least recently
    used forgotten first; max_bytes, max_pixels, max_image_bytes: the caps on an upload (its
    file, its width x height, its decoded pixels); max_decodes: uploads decoded at once.
    """

    def __init__(
        self,
        runs: Sequence[RunLike],
        device: str = "cpu",
        *,
        thumbnails: int = 32,
        max_uploads: int = 32,
        max_test_inputs: int = 64,
        max_bytes: int = MAX_BYTES,
        max_pixels: int = MAX_PIXELS,
        max_image_bytes: int = MAX_IMAGE_BYTES,
        max_decodes: int = MAX_DECODES,
        progress: bool = True,
    ) -> None:
        if not runs:
            raise ConfigError("give at least one run directory")
        self.runs = [open_run(run, device) for run in runs]
        self.names = run_names([run.run_dir for run in self.runs])
        self.fingerprint = runs_fingerprint(self.runs)
        self.test = self.runs[0].dataset("test", progress=progress)
        self.tests = [self.test] + [self._own_test(run, progress) for run in self.runs[1:]]
        self.thumbnails = list(range(min(thumbnails, len(self.test))))
        self.vectors = [cached_attribute_vectors(run, progress) for run in self.runs]
        self.attributes = list(dict.fromkeys(name for v in self.vectors for name in v))
        self.limits = {"upload": max_uploads, "test": max_test_inputs}
        self.max_bytes, self.max_pixels = max_bytes, max_pixels
        self.max_image_bytes = max_image_bytes
        self.work_side = work_side(max(run.config.model.image_size for run in self.runs))
        self._inputs: OrderedDict[str, list[torch.Tensor]] = OrderedDict()
        self._codes: dict[tuple[str, int], torch.Tensor] = {}
        self._views: OrderedDict[object, list[torch.Tensor]] = OrderedDict()
        self._samplers = self._make_samplers(progress)
        self._uploads = 0
        self._lock = threading.Lock()
        self.max_decodes = max_decodes
        self._decoding = threading.BoundedSemaphore(max_decodes)

    def _make_samplers(self, progress: bool) -> dict[tuple[int, str], Sampler | str]:
        """(run index, sampler name) -> the sampler, made before serving: the fitted density is
        read back from RUN/analysis/, or fitted once and kept there (one line per run that is
        fitted, unless ``progress`` is off). A run whose density cannot be made gets the reason,
        for the page, instead."""
        samplers: dict[tuple[int, str], Sampler | str] = {}
        for index, run in enumerate(self.runs):
            for name in SAMPLERS:
                try:
                    samplers[index, name] = make_sampler(
                        run, name, device=str(run.device), progress=progress
                    )
                except DFCVAEError as error:
                    reason = f"{self.names[index]}: no {name} sampler ({first_line(error)})"
                    print(f"dfcvae explore: {reason}", file=sys.stderr)
                    samplers[index, name] = reason
        return samplers

    def close(self) -> None:
        """Forget the inputs (nothing is kept on disk)."""
        with self._lock:
            self._inputs.clear()
            self._codes.clear()
            self._views.clear()

    # Inputs: "test/<index>" for the first run's test split, "upload/<n>" for uploads.

    def add_upload(self, data: bytes) -> str:
        """Decode, check and prepare an upload for every run; its input key. The least recently
        used upload is forgotten past ``max_uploads``. Raises UploadError with a message for
        the page."""
        with self._decoding:
            img = decode_upload(
                data, self.max_bytes, self.max_pixels, self.max_image_bytes, self.work_side
            )
            images = [prepare_image(img, run.config) for run in self.runs]
        with self._lock:
            self._uploads += 1
            key = f"upload/{self._uploads}"
            self._keep(key, images)
        return key

    def preview(self, key: str) -> torch.Tensor:
        """The input as the first run sees it: (C, S, S) in [0, 1]."""
        with self._lock:
            return self.input_images(key)[0]

    def input_images(self, key: str) -> list[torch.Tensor]:
        """The input as each run sees it: one (C, S, S) in [0, 1] per run (call under the lock)."""
        if key in self._inputs:
            self._inputs.move_to_end(key)
            return self._inputs[key]
        kind, _, number = key.partition("/")
        index = ascii_int(number)
        if kind != "test" or index is None or index >= len(self.test):
            known = "a test image 0.." + str(len(self.test) - 1)
            raise ConfigError(f"unknown input {key!r}: pick {known} or upload again")
        image = self.test[index][0]
        images = [
            own[index][0] if own is not None and index < len(own) else self._fit(image, run)
            for own, run in zip(self.tests, self.runs)
        ]
        self._keep(f"test/{index}", images)
        return images

    def _own_test(self, run: Run, progress: bool):
        """The run's own test split when it holds the first run's test images in the same order
        (the same files, maybe cut, sized or limited otherwise): each run then sees the
        original image prepared its own way. None for another data set."""
        if run.config.data.dataset != self.runs[0].config.data.dataset:
            return None
        own = run.dataset("test", progress=progress)
        first = self.test.meta
        same = own.meta["fingerprint"] == first["fingerprint"] and own.skipped == self.test.skipped
        return own if same else None

    def _keep(self, key: str, images: list[torch.Tensor]) -> None:
        """Remember an input; forget the least recently used ones of its kind past the limit,
        with their codes (call under the lock)."""
        self._inputs[key] = images
        kind = key.partition("/")[0]
        same = [k for k in self._inputs if k.partition("/")[0] == kind]
        for old in same[: max(0, len(same) - self.limits[kind])]:
            del self._inputs[old]
            for index in range(len(self.runs)):
                self._codes.pop((old, index), None)

    @staticmethod
    def _fit(image: torch.Tensor, run: Run) -> torch.Tensor:
        """A prepared image of the first run at another run's channels and size (a run of
        another data set than the first)."""
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
        self, temperature: float = 1.0, seed: int = 0, n: int = 8, sampler: str = DEFAULT_SAMPLER
    ) -> list[torch.Tensor]:
        """Per run, a grid (3, H, W) of ``n`` images decoded from codes of ``sampler``:
        ``fitted`` (the default), each run's density fitted to its train codes (made when the
        explorer started; see ``dfcvae.analysis.latent_prior``); ``standard``, z ~ N(0, T^2 I),
        the same z (same seed) for runs of the same latent size."""
        check_samples(temperature, seed, n)
        check_sampler(sampler)
        key = ("samples", float(temperature), int(seed), int(n), sampler)
        with self._lock:
            if key in self._views:
                return self._views[key]
            grids = []
            for index, run in enumerate(self.runs):
                made = self._samplers[index, sampler]
                if isinstance(made, str):
                    raise ConfigError(made)
                z = sampler_codes(made, n, temperature, seed)
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
