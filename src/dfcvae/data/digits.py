"""MNIST and Fashion-MNIST: 28x28 grayscale digits / clothes in IDX files.

Files are looked for, in order, under ``root`` (directly, or in torchvision's
``<root>/<MNIST|FashionMNIST>/raw/``), then in the Debian package folder
(``/usr/share/datasets/fashion-mnist``, package ``dataset-fashion-mnist``, Fashion-MNIST only),
then in the download folder; only if all fail does torchvision download them.
Default preprocessing at 32 px pads 2 zero pixels on every side (exact pixels, as in the
paper's 32x32 Fashion-MNIST setting); at 28 px nothing changes; other sizes resize.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torchvision
from PIL import Image

from .download import download
from .errors import DataError
from .idx import read_idx
from .preprocess import Prepare, check_crop, fit_frame, pad_to, resize
from .source import Source, SourceItems, fingerprint_files
from .splits import holdout_range

NATIVE_SIZE = 28
PADDED_SIZE = 32


@dataclass(frozen=True)
class DigitsSet:
    """Where one IDX dataset lives and what its classes are called."""

    name: str
    torchvision_name: str
    system_dir: Path | None
    class_names: tuple[str, ...]
    fix: str


FASHION_MNIST = DigitsSet(
    name="fashion-mnist",
    torchvision_name="FashionMNIST",
    system_dir=Path("/usr/share/datasets/fashion-mnist"),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    fix=(
        "install it with 'apt-get install dataset-fashion-mnist', or download the four "
        "*-ubyte.gz files from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ "
        "into the folder given as --data-root"
    ),
)
MNIST = DigitsSet(
    name="mnist",
    torchvision_name="MNIST",
    system_dir=None,
    class_names=tuple(str(digit) for digit in range(10)),
    fix=(
        "download the four *-ubyte.gz files from https://ossci-datasets.s3.amazonaws.com/mnist/ "
        "into the folder given as --data-root"
    ),
)
DIGITS = {FASHION_MNIST.name: FASHION_MNIST, MNIST.name: MNIST}


def digits_source(
    name: str, *, root: Path | None, downloads: Path, split: str, image_size: int, crop: str
) -> Source:
    """The requested split of MNIST or Fashion-MNIST; downloads only if no files are found.

    root: the user's ``--data-root`` or None; downloads: where torchvision keeps its copy.
    """
    spec = DIGITS[name]
    check_crop(crop, name)
    official = "t10k" if split == "test" else "train"
    found = _find(spec, official, root, downloads)
    if found is None:
        _download(spec, downloads)
        found = _find(spec, official, root, downloads)
        if found is None:
            raise DataError(f"{name}: download finished but no {official} IDX files in {downloads}")
    images_path, labels_path = found

    def read() -> SourceItems:
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.shape[0] != labels.shape[0] or images.shape[1:] != (NATIVE_SIZE, NATIVE_SIZE):
            raise DataError(f"{images_path} and {labels_path} do not match; fetch them again")
        picked = range(len(images)) if split == "test" else holdout_range(len(images), split)
        return SourceItems(
            names=[f"{images_path.name}[{i}]" for i in picked],
            load=lambda i: Image.fromarray(images[picked[i]]),
            labels=labels[picked.start : picked.stop].astype(np.int64),
            label_kind="class",
            label_names=list(spec.class_names),
            prepare=prepare(image_size, crop),
        )

    return Source(
        fingerprint=fingerprint_files([images_path, labels_path]),
        read=read,
        flip=False,
        where=str(images_path.parent),
    )


def prepare(image_size: int, crop: str) -> Prepare:
    """Pad 28 -> 32 (``"default"`` at 32 px), else resize. An image of another size than 28x28
    (a user's photo) is first made into that frame (its central square, resized)."""
    if crop == "default" and image_size == PADDED_SIZE:
        return lambda img: pad_to(fit_frame(img, NATIVE_SIZE, NATIVE_SIZE), PADDED_SIZE)
    return lambda img: resize(fit_frame(img, NATIVE_SIZE, NATIVE_SIZE), image_size)


def _find(
    spec: DigitsSet, official: str, root: Path | None, downloads: Path
) -> tuple[Path, Path] | None:
    """The (images, labels) IDX files of the official split, gzipped or not, if present."""
    folders = [] if root is None else [root, root / spec.torchvision_name / "raw", root / spec.name]
    folders += [spec.system_dir] if spec.system_dir is not None else []
    folders += [downloads / spec.torchvision_name / "raw"]
    for folder in folders:
        pair = [
            _either(folder / f"{official}-{kind}-ubyte") for kind in ("images-idx3", "labels-idx1")
        ]
        if pair[0] is not None and pair[1] is not None:
            return pair[0], pair[1]
    return None


def _either(stem: Path) -> Path | None:
    for path in (stem.with_name(stem.name + ".gz"), stem):
        if path.is_file():
            return path
    return None


def _download(spec: DigitsSet, downloads: Path) -> None:
    """Fetch all four files (torchvision downloads train and test together)."""
    dataset_class = getattr(torchvision.datasets, spec.torchvision_name)
    download(
        spec.name, lambda: dataset_class(str(downloads), train=True, download=True), fix=spec.fix
    )
