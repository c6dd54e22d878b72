"""The torch Dataset over a finished cache folder (see ``cache.py`` for the layout)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .cache import IMAGES_FILE, LABELS_FILE, META_FILE


class CachedImageDataset(Dataset):
    """Images and labels of one split, read from a memory-mapped uint8 array.

    Item ``i`` is ``(image, label)``:

    - image: float32 tensor ``(C, H, W)`` in [0, 1], flipped left-right with probability 1/2
      when ``flip`` is true (the random draw uses torch's generator, seeded per worker), unless
      the key is ``(i, flip)``: a sampler that decides the flips itself (the train loader's
      ResumableSampler, so that they depend on seed and epoch alone, not on workers or resumes);
    - label: int64 scalar class index (``label_kind == "class"``), float32 ``(A,)`` {0, 1}
      attribute vector (``"attributes"``), or int64 ``-1`` when unlabelled (``None``).

    ``images`` is opened read-only and lazily in each process, so DataLoader workers map the
    file themselves instead of receiving a pickled copy.
    """

    def __init__(self, folder: str | Path, *, flip: bool = False) -> None:
        self.folder = Path(folder)
        self.flip = flip
        meta: dict[str, Any] = json.loads((self.folder / META_FILE).read_text())
        self.meta = meta
        self.name: str = meta["name"]
        self.split: str = meta["split"]
        self.image_size: int = meta["image_size"]
        self.channels: int = meta["channels"]
        self.label_kind: str | None = meta["label_kind"]
        self.label_names: list[str] = list(meta["label_names"])
        self.skipped: list[str] = [item["name"] for item in meta["skipped"]]
        labels_path = self.folder / LABELS_FILE
        self.labels: np.ndarray | None = np.load(labels_path) if labels_path.exists() else None
        self._count: int = meta["count"]
        self._images: np.ndarray | None = None
        self._pid: int | None = None

    @property
    def images(self) -> np.ndarray:
        """uint8 ``(N, H, W, C)`` memory map, opened on first use in the calling process."""
        if self._images is None or self._pid != os.getpid():
            self._images = np.load(self.folder / IMAGES_FILE, mmap_mode="r")
            self._pid = os.getpid()
        return self._images

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, key: int | tuple[int, bool]) -> tuple[torch.Tensor, torch.Tensor]:
        index, flip = key if isinstance(key, tuple) else (key, None)
        pixels = torch.from_numpy(np.array(self.images[index], copy=True))
        image = pixels.permute(2, 0, 1).float().div_(255.0)
        if flip is None:
            flip = self.flip and bool(torch.rand(()) < 0.5)
        if flip:
            image = image.flip(-1)
        return image, self._label(index)

    def _label(self, index: int) -> torch.Tensor:
        if self.labels is None:
            return torch.tensor(-1, dtype=torch.int64)
        if self.label_kind == "attributes":
            return torch.from_numpy(self.labels[index].astype(np.float32))
        return torch.tensor(int(self.labels[index]), dtype=torch.int64)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_images"] = None  # never pickle the memory map; each process reopens it
        state["_pid"] = None
        return state

    def __repr__(self) -> str:
        return (
            f"CachedImageDataset({self.name!r}, split={self.split!r}, n={len(self)}, "
            f"size={self.image_size}, channels={self.channels}, labels={self.label_kind})"
        )
