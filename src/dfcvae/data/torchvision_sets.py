"""CIFAR-10 and STL-10 (labelled train/test) through torchvision's readers and downloaders.

The files are looked for in torchvision's layout under ``root`` (or the download folder when no
root is given): ``<root>/cifar-10-batches-py/`` and ``<root>/stl10_binary/``. Only when that
folder is missing does torchvision download it. Both preprocessing choices ("default" and
"none") resize the whole image; at the native size (32 for CIFAR-10, 96 for STL-10) pixels are
kept exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torchvision
from PIL import Image

from .download import download
from .errors import DataError
from .preprocess import Prepare, center_square, check_crop, resize
from .source import Source, SourceItems, fingerprint_files
from .splits import holdout_range


@dataclass(frozen=True)
class TorchvisionSet:
    """How to open one torchvision dataset: ``open(root, train, download)``."""

    name: str
    folder: str
    open: Callable[[str, bool, bool], Any]
    channels_first: bool
    fix: str


CIFAR10 = TorchvisionSet(
    name="cifar10",
    folder="cifar-10-batches-py",
    open=lambda root, train, fetch: torchvision.datasets.CIFAR10(root, train=train, download=fetch),
    channels_first=False,
    fix=(
        "download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and unpack it so that "
        "<data-root>/cifar-10-batches-py/ exists, then pass --data-root"
    ),
)
STL10 = TorchvisionSet(
    name="stl10",
    folder="stl10_binary",
    open=lambda root, train, fetch: torchvision.datasets.STL10(
        root, split="train" if train else "test", download=fetch
    ),
    channels_first=True,
    fix=(
        "download http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz and unpack it so "
        "that <data-root>/stl10_binary/ exists, then pass --data-root"
    ),
)
TORCHVISION_SETS = {CIFAR10.name: CIFAR10, STL10.name: STL10}


def torchvision_source(
    name: str, *, downloads: Path, split: str, image_size: int, crop: str
) -> Source:
    """The requested split of CIFAR-10 or STL-10 under ``downloads`` (``--data-root``).

    Downloads only if its folder is missing.
    """
    spec = TORCHVISION_SETS[name]
    check_crop(crop, name)
    base = downloads
    folder = base / spec.folder
    train = split != "test"
    if not folder.is_dir():
        download(name, lambda: spec.open(str(base), train, True), fix=spec.fix)
    files = sorted(path for path in folder.rglob("*") if path.is_file())

    def read() -> SourceItems:
        try:
            dataset = spec.open(str(base), train, False)
        except (RuntimeError, OSError, ValueError) as err:
            raise DataError(f"cannot read {name} from {folder} ({err}); {spec.fix}") from None
        data = np.asarray(dataset.data)
        data = data.transpose(0, 2, 3, 1) if spec.channels_first else data
        labels = np.asarray(dataset.targets if hasattr(dataset, "targets") else dataset.labels)
        picked = range(len(data)) if split == "test" else holdout_range(len(data), split)
        return SourceItems(
            names=[f"{split if split == 'test' else 'train'}[{i}]" for i in picked],
            load=lambda i: Image.fromarray(data[picked[i]]),
            labels=labels[picked.start : picked.stop].astype(np.int64),
            label_kind="class",
            label_names=[str(name) for name in getattr(dataset, "classes", range(10))],
            prepare=prepare(image_size),
        )

    return Source(
        fingerprint=fingerprint_files(files, base=folder),
        read=read,
        flip=True,
        where=str(folder),
    )


def prepare(image_size: int) -> Prepare:
    """A resize to ``image_size`` (both crops). The sets' images are square; another image (a
    user's photo) gives its central square first, as the square images always do."""
    return lambda img: resize(center_square(img), image_size)
