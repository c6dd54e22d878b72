"""Load: the cache of a large folder is written a chunk at a time, so memory stays flat.

The 200,000-image measurement (peak RSS, worker PSS) is a benchmark, not a test:
``benchmarks/cache_memory.py``, numbers in docs/reliability.md. That the dataset pickled to a
DataLoader worker carries no image array is tested in ``tests/test_data_datamodule.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import dfcvae.data.cache as cache
from dfcvae.data import SkippedFilesWarning, build_dataset
from tests.data_fixtures import name_in_split


def test_the_cache_is_written_and_compacted_a_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "CHUNK", 3)  # 11 images: four maps while writing, four compacting
    root = tmp_path / "images"
    root.mkdir()
    names = []
    for i in range(11):
        names.append(name_in_split(f"img{i:02d}", ".png"))
        Image.new("L", (6, 6), 20 * i).save(root / names[-1])
        if i % 4 == 1:  # broken files in between, so the kept rows must be compacted
            (root / name_in_split(f"img{i:02d}-broken", ".png")).write_bytes(b"")
    with pytest.warns(SkippedFilesWarning, match="skipped 3 unreadable"):
        dataset = build_dataset("folder", root=root, cache_dir=tmp_path / "c", image_size=4,
                                channels=1, progress=False)  # fmt: skip
    assert len(dataset) == 11 and dataset.images.shape == (11, 4, 4, 1)
    order = sorted(names)
    for index, name in enumerate(order):
        expected = 20 * int(name[3:5])
        assert dataset.images[index].min() == dataset.images[index].max() == expected, name
