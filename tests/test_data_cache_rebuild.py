"""The cache rebuilds when its source changes: a file rewritten in place (same name, same size,
new contents and modification time) gives a new fingerprint, a new cache folder and the new
pixels, for every kind of source."""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dfcvae.data.torchvision_sets as torchvision_sets
from dfcvae.data import build_dataset
from dfcvae.data.cache import cache_folder
from tests.data_fixtures import make_celeba, name_in_split


def touch_later(path: Path) -> None:
    """Move the modification time on by a second (file systems with coarse clocks)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def rebuilt(build, rewrite) -> tuple:
    """(dataset before, dataset after rewriting the source in place)."""
    before = build()
    rewrite()
    return before, build()


def test_the_cache_key_covers_every_option_and_the_fingerprint(tmp_path: Path):
    options = dict(name="folder", split="train", image_size=16, channels=3, crop="default",
                   limit=None, fingerprint="abc")  # fmt: skip
    base = cache_folder(tmp_path, **options)
    changed = {"name": "mnist", "split": "test", "image_size": 32, "channels": 1,
               "crop": "none", "limit": 10, "fingerprint": "abd"}  # fmt: skip
    for key, value in changed.items():
        assert cache_folder(tmp_path, **{**options, key: value}) != base, key
    assert cache_folder(tmp_path, **options) == base
    assert base.parent == tmp_path and base.name.startswith("folder-train-16px-3ch-default-all-")
    key = base.name.rsplit("-", 1)[1]
    assert len(key) == 12 and int(key, 16) >= 0  # 12 hex digits of the options' hash
    limited = cache_folder(tmp_path, **{**options, "limit": 10})
    assert limited.name.startswith("folder-train-16px-3ch-default-10-")


def test_folder_source(tmp_path: Path):
    root = tmp_path / "images"
    root.mkdir()
    name = name_in_split("img", ".png")
    Image.new("RGB", (8, 8), (200, 10, 10)).save(root / name)
    Image.new("RGB", (8, 8), (0, 0, 0)).save(root / name_in_split("other", ".png"))

    def rewrite():
        Image.new("RGB", (8, 8), (10, 200, 10)).save(root / name)  # same size, in place
        touch_later(root / name)

    def build():
        return build_dataset("folder", root=root, image_size=8, cache_dir=tmp_path / "cache",
                             progress=False)  # fmt: skip

    before, after = rebuilt(build, rewrite)
    index = [p.name for p in sorted(root.iterdir())].index(name)
    assert before.folder != after.folder
    assert before.images[index, 0, 0].tolist() == [200, 10, 10]
    assert after.images[index, 0, 0].tolist() == [10, 200, 10]


def test_celeba_source_sees_an_image_rewritten_in_place(tmp_path: Path):
    base = make_celeba(tmp_path)
    first = base / "img_align_celeba" / "000001.jpg"
    listing = first.parent.stat().st_mtime_ns

    def rewrite():
        # Saved over the old file (same inode): the folder's listing and mtime stay the same.
        Image.fromarray(np.full((218, 178, 3), 20, dtype=np.uint8)).save(first, quality=95)
        touch_later(first)
        assert first.parent.stat().st_mtime_ns == listing

    def build():
        return build_dataset("celeba", root=tmp_path, split="train", image_size=16,
                             cache_dir=tmp_path / "cache", progress=False)  # fmt: skip

    before, after = rebuilt(build, rewrite)
    assert before.folder != after.folder
    assert before.images[0].max() > 200  # the coloured halves
    assert np.abs(after.images[0].astype(int) - 20).max() <= 3  # the new flat grey


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_idx_source_sees_a_file_rewritten_in_place(tmp_path: Path):
    raw = tmp_path / "root" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for official, count in (("train", 20), ("t10k", 5)):
        write_idx(raw / f"{official}-images-idx3-ubyte", np.full((count, 28, 28), 7))
        write_idx(raw / f"{official}-labels-idx1-ubyte", np.arange(count) % 10)
    images = raw / "t10k-images-idx3-ubyte"

    def rewrite():
        write_idx(images, np.full((5, 28, 28), 99))  # same size, new pixels
        touch_later(images)

    def build():
        return build_dataset("mnist", root=tmp_path / "root", split="test", image_size=28,
                             cache_dir=tmp_path / "cache", progress=False)  # fmt: skip

    before, after = rebuilt(build, rewrite)
    assert before.folder != after.folder
    assert int(before.images[0, 0, 0, 0]) == 7 and int(after.images[0, 0, 0, 0]) == 99


class FakeCIFAR10:
    """torchvision's CIFAR-10 interface over a pickled (data, targets) file in the folder."""

    def __init__(self, root: str, train: bool, fetch: bool) -> None:
        path = Path(root) / "cifar-10-batches-py" / ("data_batch_1" if train else "test_batch")
        self.data, self.targets = pickle.loads(path.read_bytes())
        self.classes = [f"class{k}" for k in range(10)]


@pytest.fixture
def fake_cifar(monkeypatch):
    fake = dataclasses.replace(torchvision_sets.CIFAR10, open=FakeCIFAR10)
    monkeypatch.setitem(torchvision_sets.TORCHVISION_SETS, "cifar10", fake)


def test_cifar_source_sees_a_file_rewritten_in_place(tmp_path: Path, fake_cifar):
    folder = tmp_path / "root" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    test_file = folder / "test_batch"

    def write(value: int) -> None:
        data = np.full((4, 32, 32, 3), value, dtype=np.uint8)
        test_file.write_bytes(pickle.dumps((data, [0, 1, 2, 3])))

    write(30)
    (folder / "data_batch_1").write_bytes(pickle.dumps((np.zeros((10, 32, 32, 3), np.uint8),
                                                        list(range(10)))))  # fmt: skip

    def rewrite():
        write(140)
        touch_later(test_file)

    def build():
        return build_dataset("cifar10", root=tmp_path / "root", split="test", image_size=32,
                             cache_dir=tmp_path / "cache", progress=False)  # fmt: skip

    before, after = rebuilt(build, rewrite)
    assert before.folder != after.folder
    assert int(before.images[0, 0, 0, 0]) == 30 and int(after.images[0, 0, 0, 0]) == 140
    assert after.labels.tolist() == [0, 1, 2, 3] and after.label_names[3] == "class3"
