"""MNIST from IDX files in torchvision's layout, CIFAR-10 / STL-10 plumbing, option checks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import dfcvae.data.torchvision_sets as torchvision_sets
from dfcvae.data import DATASETS, DataError, build_dataset


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    """Uncompressed IDX files as torchvision leaves them: ``<root>/MNIST/raw/``."""
    raw = tmp_path / "root" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for official, count in (("train", 20), ("t10k", 5)):
        _write_idx(raw / f"{official}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)))
        _write_idx(raw / f"{official}-labels-idx1-ubyte", np.arange(count) % 10)
    return tmp_path / "root"


def test_mnist_reads_idx_files_in_torchvision_layout(mnist_root: Path, tmp_path: Path) -> None:
    options = dict(root=mnist_root, cache_dir=tmp_path / "cache", image_size=28, progress=False)
    train = build_dataset("mnist", split="train", **options)
    valid = build_dataset("mnist", split="valid", **options)
    test = build_dataset("mnist", split="test", **options)
    assert (len(train), len(valid), len(test)) == (18, 2, 5)
    assert train.label_names == [str(d) for d in range(10)]
    assert valid.labels.tolist() == [8, 9] and test.labels.tolist() == [0, 1, 2, 3, 4]
    raw = np.fromfile(mnist_root / "MNIST/raw/train-images-idx3-ubyte", np.uint8, offset=16)
    np.testing.assert_array_equal(valid.images[1, :, :, 0], raw.reshape(20, 28, 28)[19])


def test_truncated_idx_file_is_named(mnist_root: Path, tmp_path: Path) -> None:
    path = mnist_root / "MNIST/raw/t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte holds 1000 bytes .*truncated"):
        build_dataset("mnist", root=mnist_root, split="test", cache_dir=tmp_path / "cache")


class _FakeSTL10:
    """What torchvision.datasets.STL10 exposes: channels-first uint8 data, labels, classes."""

    def __init__(self, root: str, train: bool, fetch: bool) -> None:
        count = 10 if train else 4
        rows = np.arange(96, dtype=np.uint8)[:, None].repeat(96, 1)  # red grows downwards
        self.data = np.zeros((count, 3, 96, 96), np.uint8)
        self.data[:, 0] = rows
        self.data[:, 2] = np.arange(count, dtype=np.uint8)[:, None, None] * 20
        self.labels = np.arange(count) % 10
        self.classes = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey",
                        "ship", "truck"]  # fmt: skip


def test_stl10_is_transposed_split_and_flippable(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "root" / "stl10_binary").mkdir(parents=True)
    (tmp_path / "root" / "stl10_binary" / "train_X.bin").write_bytes(b"fingerprinted")
    fake = dataclasses.replace(torchvision_sets.STL10, open=_FakeSTL10)
    monkeypatch.setitem(torchvision_sets.TORCHVISION_SETS, "stl10", fake)
    options = dict(root=tmp_path / "root", cache_dir=tmp_path / "cache", progress=False)
    train = build_dataset("stl10", split="train", image_size=96, augment=True, **options)
    valid = build_dataset("stl10", split="valid", image_size=96, **options)
    test = build_dataset("stl10", split="test", image_size=32, **options)
    assert (len(train), len(valid), len(test)) == (9, 1, 4)
    assert train.flip and not valid.flip and train.label_names[7] == "monkey"
    image, label = valid[0]
    assert image.shape == (3, 96, 96) and label.item() == 9
    assert torch.equal(image[0, :, 5] * 255, torch.arange(96, dtype=torch.float32))
    assert image[2, 0, 0] * 255 == 180  # the last train image held out as valid
    assert test[0][0].shape == (3, 32, 32)


def test_missing_cifar_offline_says_where_to_put_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DFCVAE_OFFLINE", "1")
    with pytest.raises(
        DataError, match=r"cifar-10-python.tar.gz.*<data-root>/cifar-10-batches-py/"
    ):
        build_dataset("cifar10", root=tmp_path / "root", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(name="imagenet"), r"unknown dataset 'imagenet'; choose one of fashion-mnist"),
        (dict(split="validation"), r"unknown split 'validation'"),
        (dict(channels=2), r"--channels must be 1 \(grayscale\) or 3"),
        (dict(image_size=0), r"--image-size must be a positive"),
        (dict(limit=0), r"--limit must be at least 1"),
        (dict(crop="original"), r"crop 'original' .*CelebA crop and does not apply to mnist"),
        (dict(labels_file="x.csv"), r"--labels-file applies to the folder dataset only"),
    ],
)
def test_bad_options_are_one_line_data_errors(tmp_path: Path, options, message) -> None:
    options = {"name": "mnist", "cache_dir": tmp_path / "cache", **options}
    with pytest.raises(DataError, match=message) as error:
        build_dataset(options.pop("name"), **options)
    assert "\n" not in str(error.value)


def test_dataset_names_are_the_public_list() -> None:
    assert DATASETS == ("fashion-mnist", "mnist", "cifar10", "stl10", "celeba", "folder")
