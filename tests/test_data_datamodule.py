"""The Lightning DataModule and the cached Dataset under DataLoader workers."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from dfcvae.data import DataError, DFCVAEDataModule, build_dataset, default_cache_dir
from tests.data_fixtures import FASHION_MNIST_DIR, make_celeba

needs_fashion_mnist = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="needs the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)",
)


def _fashion(tmp_path: Path, **options) -> DFCVAEDataModule:
    options = {"image_size": 32, "limit": 256, "batch_size": 32, **options}
    return DFCVAEDataModule("fashion-mnist", cache_dir=tmp_path / "cache", **options)


@needs_fashion_mnist
def test_train_batches_are_unit_range_grayscale(tmp_path: Path) -> None:
    datamodule = _fashion(tmp_path)
    datamodule.prepare_data()
    datamodule.setup("fit")
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.shape == (32, 1, 32, 32) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.max() > 0.5
    assert labels.shape == (32,) and labels.dtype == torch.int64
    assert len(datamodule.train_dataloader()) == 256 // 32
    assert len(datamodule.val_set) == 256 and datamodule.val_set.split == "valid"
    assert datamodule.channels == 1 and datamodule.image_size == 32
    assert not datamodule.train_set.flip  # no flips for clothes: a flipped shoe is another shoe


@needs_fashion_mnist
def test_train_loader_shuffles_and_drops_the_last_partial_batch(tmp_path: Path) -> None:
    datamodule = _fashion(tmp_path, limit=100, batch_size=32)
    datamodule.setup("fit")
    torch.manual_seed(0)
    batches = [labels for _, labels in datamodule.train_dataloader()]
    assert [len(b) for b in batches] == [32, 32, 32]
    seen = torch.cat(batches)
    assert not torch.equal(seen, torch.from_numpy(datamodule.train_set.labels[:96]))
    assert [len(labels) for _, labels in datamodule.val_dataloader()] == [32, 32, 32, 4]


@needs_fashion_mnist
def test_batch_larger_than_train_set_is_a_data_error(tmp_path: Path) -> None:
    datamodule = _fashion(tmp_path, limit=50, batch_size=64)
    with pytest.raises(DataError, match=r"--batch-size 64 .*fashion-mnist train set \(50 images\)"):
        datamodule.setup("fit")


@needs_fashion_mnist
def test_two_workers_reopen_the_memory_map(tmp_path: Path) -> None:
    datamodule = _fashion(tmp_path, num_workers=2, pin_memory=False)
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    assert loader.persistent_workers and loader.num_workers == 2
    seen = torch.cat([images for images, _ in loader])
    assert seen.shape == (256, 1, 32, 32)
    # every cached image came through the workers exactly once, in shuffled order
    sums = (seen * 255).round().long().reshape(256, -1).sum(1).sort().values
    cached = np.asarray(datamodule.train_set.images, dtype=np.int64).reshape(256, -1).sum(1)
    np.testing.assert_array_equal(sums.numpy(), np.sort(cached))


def test_pickled_dataset_carries_no_memory_map(tmp_path: Path) -> None:
    make_celeba(tmp_path / "data")
    dataset = build_dataset(
        "celeba", root=tmp_path / "data", cache_dir=tmp_path / "c", progress=False
    )
    assert isinstance(dataset.images, np.memmap)  # opened in this process
    state = pickle.dumps(dataset)
    assert len(state) < 20_000  # the 8 images of 64x64x3 alone would be 98 kB
    copy = pickle.loads(state)
    assert copy._images is None and isinstance(copy.images, np.memmap)
    assert torch.equal(copy[2][0], dataset[2][0])


def test_workers_open_their_own_map(tmp_path: Path) -> None:
    make_celeba(tmp_path / "data")
    dataset = build_dataset(
        "celeba", root=tmp_path / "data", cache_dir=tmp_path / "c", progress=False
    )
    assert isinstance(dataset.images, np.memmap)  # the parent maps it before forking

    def reopens(worker_id: int) -> None:
        worker_copy = torch.utils.data.get_worker_info().dataset
        inherited = worker_copy._pid  # the parent's pid after fork, None after spawn
        assert isinstance(worker_copy.images, np.memmap)
        assert inherited != os.getpid() and worker_copy._pid == os.getpid()

    loader = DataLoader(dataset, batch_size=4, num_workers=2, worker_init_fn=reopens)
    images = torch.cat([batch for batch, _ in loader])
    assert images.shape == (8, 3, 64, 64)
    assert torch.equal(images[5], dataset[5][0])


def test_celeba_datamodule_flips_and_gives_attributes(tmp_path: Path) -> None:
    make_celeba(tmp_path / "data")
    datamodule = DFCVAEDataModule(
        "celeba", root=tmp_path / "data", cache_dir=tmp_path / "c", batch_size=4, image_size=32
    )
    datamodule.setup("fit")
    assert datamodule.train_set.flip and not datamodule.val_set.flip
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.shape == (4, 3, 32, 32) and labels.shape == (4, 40)
    assert labels.dtype == torch.float32 and set(labels.unique().tolist()) <= {0.0, 1.0}
    assert len(datamodule.label_names) == 40


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DFCVAE_CACHE", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("DFCVAE_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "dfcvae"
