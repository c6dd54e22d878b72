"""Data pipeline measurements, with no model in the loop.

- ``make_jpeg_folder``: CelebA-sized JPEGs (178 x 218, quality 90) of smooth random colour
  fields, the ``folder`` dataset's input.
- ``cache_build``: decoding, cropping and resizing them once into the memory-mapped cache.
- ``loader_throughput``: images per second out of ``DFCVAEDataModule``'s train DataLoader (the
  one `dfcvae train` uses: shuffled shard, random flips, float conversion, collation).
- ``celeba_sized_cache`` / ``read_celeba_sized``: a cache of 202,599 images at 64 x 64 built by
  the real cache builder, then read at random through a DataLoader in a fresh process, which
  shows the resident memory it needs (the array is 2.5 GB on disk).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, RandomSampler

from common import current_rss_bytes, peak_memory_bytes
from dfcvae.data import CachedImageDataset, DFCVAEDataModule, build_dataset
from dfcvae.data.cache import IMAGES_FILE, build_cache
from dfcvae.data.source import Source, SourceItems

warnings.filterwarnings("ignore", message=".*does not have many workers.*")

CELEBA_IMAGES = 202_599
CELEBA_WIDTH, CELEBA_HEIGHT = 178, 218


def make_jpeg_folder(root: Path, count: int, seed: int = 0) -> Path:
    """``count`` JPEGs of CelebA's size in ``root`` (kept if already there)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        path = root / f"{index:06d}.jpg"
        if path.exists():
            continue
        coarse = rng.integers(0, 256, size=(7, 6, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((CELEBA_WIDTH, CELEBA_HEIGHT), Image.BICUBIC)
        noise = rng.integers(-12, 13, size=(CELEBA_HEIGHT, CELEBA_WIDTH, 3))
        pixels = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, quality=90)
    return root


def cache_build(root: Path, cache_dir: Path, image_size: int = 64) -> dict:
    """Seconds and images per second to build the train and valid caches from the JPEGs."""
    start = time.perf_counter()
    count = 0
    for split in ("train", "valid"):
        dataset = build_dataset(
            "folder", root=root, split=split, image_size=image_size, cache_dir=cache_dir,
            progress=False,
        )  # fmt: skip
        count += len(dataset)
    seconds = time.perf_counter() - start
    return {"images": count, "seconds": seconds, "images_per_s": count / seconds}


def loader_throughput(
    root: Path, cache_dir: Path, *, batch_size: int, num_workers: int, epochs: int = 3
) -> dict:
    """Images per second through the train DataLoader of ``DFCVAEDataModule``: the first epoch
    (worker start-up included) and the median of the later ones (persistent workers)."""
    data = DFCVAEDataModule(
        "folder", root=root, image_size=64, cache_dir=cache_dir, batch_size=batch_size,
        num_workers=num_workers,
    )  # fmt: skip
    data.setup("fit")
    loader = data.train_dataloader()
    rates = []
    for _ in range(epochs):
        start, images = time.perf_counter(), 0
        for batch in loader:
            images += batch[0].shape[0]
        rates.append(images / (time.perf_counter() - start))
    later = sorted(rates[1:]) or rates
    return {
        "num_workers": num_workers,
        "persistent_workers": num_workers > 0,
        "pin_memory": data.pin_memory,
        "images_per_epoch": images,
        "first_epoch_images_per_s": rates[0],
        "images_per_s": later[len(later) // 2],
    }


def celeba_sized_cache(cache_dir: Path, image_size: int = 64) -> dict:
    """Build (once) a cache of 202,599 synthetic images through ``build_cache``."""
    folder = cache_dir / f"celeba-sized-{image_size}px"
    images_file = folder / IMAGES_FILE
    start = time.perf_counter()
    if not (folder / "meta.json").is_file():
        tile = np.random.default_rng(0).integers(0, 256, (image_size, image_size, 3), np.uint8)
        image = Image.fromarray(tile)
        items = SourceItems(
            names=[f"{i:06d}.jpg" for i in range(CELEBA_IMAGES)],
            load=lambda i: image,
            labels=None,
            label_kind=None,
            label_names=[],
            prepare=lambda img: img,
        )
        source = Source(fingerprint="synthetic", read=lambda: items, flip=True, where="synthetic")
        build_cache(
            folder, source, name="celeba-sized", split="train", image_size=image_size,
            channels=3, limit=None, progress=False,
        )  # fmt: skip
    return {
        "folder": str(folder),
        "images": CELEBA_IMAGES,
        "file_bytes": images_file.stat().st_size,
        "build_seconds": time.perf_counter() - start,
    }


def read_celeba_sized(folder: str, batches: int = 300, batch_size: int = 64) -> dict:
    """Random batches from the CelebA-sized cache; call in a fresh process. Resident memory
    before and after, split into the process's own (anonymous) memory and mapped file pages
    (the kernel maps a few neighbouring pages of the page cache on each fault, so the latter
    grows faster than the bytes read; it is page cache, shared and dropped under pressure),
    and whether the images stayed a memory map."""
    before = {kind: current_rss_bytes(kind) for kind in ("VmRSS", "RssAnon", "RssFile")}
    dataset = CachedImageDataset(folder, flip=True)
    sampler = RandomSampler(dataset, num_samples=batches * batch_size)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler)
    start = time.perf_counter()
    for _ in loader:
        pass
    seconds = time.perf_counter() - start
    return {
        "images_read": batches * batch_size,
        "images_per_s": batches * batch_size / seconds,
        "is_memmap": isinstance(dataset.images, np.memmap),
        "rss_before_bytes": before["VmRSS"],
        "rss_after_bytes": current_rss_bytes(),
        "anon_before_bytes": before["RssAnon"],
        "file_before_bytes": before["RssFile"],
        "anon_growth_bytes": current_rss_bytes("RssAnon") - before["RssAnon"],
        "file_growth_bytes": current_rss_bytes("RssFile") - before["RssFile"],
        "peak_rss_bytes": peak_memory_bytes(torch.device("cpu")),
        "file_bytes": (Path(folder) / IMAGES_FILE).stat().st_size,
        "meta": json.loads((Path(folder) / "meta.json").read_text())["count"],
    }
