"""Fashion-MNIST from the Debian package's IDX files: exact padding, labels, cache reuse."""

from __future__ import annotations

import dataclasses
import gzip
import shutil
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision

import dfcvae.data.digits
from dfcvae.data import DataError, build_dataset
from tests.data_fixtures import FASHION_MNIST_DIR

pytestmark = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="needs the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)",
)

CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip


def _raw(kind: str, count: int, header: int) -> np.ndarray:
    """The first ``count`` records of a Debian IDX file, read independently of the package."""
    with gzip.open(FASHION_MNIST_DIR / f"{kind}-ubyte.gz") as handle:
        data = np.frombuffer(handle.read(), np.uint8, offset=header)
    return data[: count * (784 if "images" in kind else 1)]


def _build(tmp_path: Path, **options):
    options = {"image_size": 32, "limit": 256, "progress": False, **options}
    return build_dataset("fashion-mnist", cache_dir=tmp_path / "cache", **options)


def test_padding_to_32_keeps_the_exact_pixels(tmp_path: Path) -> None:
    train = _build(tmp_path)
    assert len(train) == 256 and train.channels == 1 and train.image_size == 32
    raw = _raw("train-images-idx3", 256, 16).reshape(256, 28, 28)
    images = np.asarray(train.images)[..., 0]
    np.testing.assert_array_equal(images[:, 2:30, 2:30], raw)
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert images[:, border].max() == 0
    image, label = train[5]
    assert image.shape == (1, 32, 32) and image.dtype == torch.float32
    assert torch.equal(image[0, 2:30, 2:30], torch.from_numpy(raw[5] / 255.0).float())


def test_labels_and_class_names(tmp_path: Path) -> None:
    train = _build(tmp_path)
    assert train.label_kind == "class" and train.label_names == CLASS_NAMES
    np.testing.assert_array_equal(train.labels, _raw("train-labels-idx1", 256, 8))
    assert train.labels.min() >= 0 and train.labels.max() <= 9
    _, label = train[0]
    assert label.dtype == torch.int64 and label.shape == () and label.item() == train.labels[0]


def test_valid_is_the_last_tenth_of_train_and_test_is_t10k(tmp_path: Path) -> None:
    valid = _build(tmp_path, split="valid", limit=8)
    with gzip.open(FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz") as handle:
        all_train = np.frombuffer(handle.read(), np.uint8, offset=8)
    np.testing.assert_array_equal(valid.labels, all_train[54000:54008])
    test = _build(tmp_path, split="test", limit=8)
    np.testing.assert_array_equal(test.labels, _raw("t10k-labels-idx1", 8, 8))


def test_other_sizes_resize_and_three_channels_repeat_gray(tmp_path: Path) -> None:
    train = _build(tmp_path, image_size=64, channels=3, limit=16)
    image, _ = train[0]
    assert image.shape == (3, 64, 64)
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])


def test_second_build_reuses_the_memory_mapped_cache(tmp_path: Path, monkeypatch) -> None:
    first = _build(tmp_path)
    npy = first.folder / "images.npy"
    stamp = npy.stat().st_mtime_ns

    def no_decoding(path: Path) -> np.ndarray:
        raise AssertionError(f"decoded {path} although the cache exists")

    monkeypatch.setattr(dfcvae.data.digits, "read_idx", no_decoding)
    second = _build(tmp_path)
    assert second.folder == first.folder and npy.stat().st_mtime_ns == stamp
    assert isinstance(second.images, np.memmap) and not second.images.flags.writeable
    assert torch.equal(second[7][0], first[7][0])
    # nothing but the three published files: the temporary ones were moved or removed
    published = sorted(path.name for path in first.folder.iterdir())
    assert published == ["images.npy", "labels.npy", "meta.json"]


def test_options_change_the_cache_key(tmp_path: Path) -> None:
    folders = {
        _build(tmp_path).folder,
        _build(tmp_path, limit=128).folder,
        _build(tmp_path, crop="none", limit=128).folder,
        _build(tmp_path, channels=3, limit=128).folder,
        _build(tmp_path, image_size=28, limit=128).folder,
    }
    assert len(folders) == 5


def _without_debian_files(monkeypatch) -> None:
    spec = dataclasses.replace(dfcvae.data.digits.FASHION_MNIST, system_dir=None)
    monkeypatch.setitem(dfcvae.data.digits.DIGITS, "fashion-mnist", spec)


def test_files_under_root_are_used_first(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(FASHION_MNIST_DIR / name, root / name)
    _without_debian_files(monkeypatch)
    test = _build(tmp_path, root=root, split="test", limit=4)
    assert test.meta["source"] == str(root)
    np.testing.assert_array_equal(test.labels, _raw("t10k-labels-idx1", 4, 8))


def test_offline_without_files_names_the_debian_package(tmp_path: Path, monkeypatch) -> None:
    _without_debian_files(monkeypatch)
    monkeypatch.setenv("DFCVAE_OFFLINE", "1")
    with pytest.raises(
        DataError, match=r"apt-get install dataset-fashion-mnist.*https?://"
    ) as error:
        _build(tmp_path, root=tmp_path / "empty")
    assert "\n" not in str(error.value)


def test_failed_download_is_one_line_naming_the_package(tmp_path: Path, monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    _without_debian_files(monkeypatch)
    monkeypatch.delenv("DFCVAE_OFFLINE", raising=False)
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", no_network)
    with pytest.raises(DataError, match=r"could not download fashion-mnist .*name resolution"):
        _build(tmp_path, root=tmp_path / "empty")
