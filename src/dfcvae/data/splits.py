"""Deterministic train/valid/test splits for sets that do not ship all three.

Sets with only an official train/test split (Fashion-MNIST, MNIST, CIFAR-10, STL-10) hold out
the *last* 10% of the official train set as "valid"; "test" is the official test set.
Folders are split 80/10/10 by a hash of each file's relative path, so adding a file never
moves another file to a different split.
"""

from __future__ import annotations

import hashlib

from .errors import DataError

SPLITS: tuple[str, ...] = ("train", "valid", "test")
VALID_FRACTION = 0.1


def check_split(split: str) -> None:
    """Raise DataError unless ``split`` is one of SPLITS."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def holdout_range(n_train: int, split: str) -> range:
    """Indices into an official train set of ``n_train`` items for "train" or "valid".

    "valid" is the last ``n_train // 10`` items, "train" everything before them.
    """
    n_valid = int(n_train * VALID_FRACTION)
    if split == "train":
        return range(0, n_train - n_valid)
    if split == "valid":
        return range(n_train - n_valid, n_train)
    raise ValueError(f"holdout_range covers train and valid only, not {split!r}")


def folder_split(relative_path: str) -> str:
    """The split ("train" 80%, "valid" 10%, "test" 10%) of a file, from its posix relative path."""
    digest = hashlib.sha1(relative_path.encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:4], "big") % 100
    if bucket < 80:
        return "train"
    if bucket < 90:
        return "valid"
    return "test"
