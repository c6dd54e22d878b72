"""CelebA from a generated tree in the real layout: splits, attributes, crops, flips, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dfcvae.data import DataError, build_dataset
from tests.data_fixtures import (
    CELEBA_ATTRIBUTES,
    CELEBA_OUTSIDE,
    celeba_attribute_values,
    celeba_colours,
    make_celeba,
)


@pytest.fixture
def celeba(tmp_path: Path) -> Path:
    """The folder given as --data-root (the files lie in its ``celeba/`` subfolder)."""
    make_celeba(tmp_path / "data")
    return tmp_path / "data"


def _build(root: Path, tmp_path: Path, **options):
    return build_dataset(
        "celeba", root=root, cache_dir=tmp_path / "cache", progress=False, **options
    )


def test_official_partition_gives_split_sizes(celeba: Path, tmp_path: Path) -> None:
    sizes = {
        split: len(_build(celeba, tmp_path, split=split)) for split in ("train", "valid", "test")
    }
    assert sizes == {"train": 8, "valid": 2, "test": 2}


def test_root_may_be_the_celeba_folder_itself(celeba: Path, tmp_path: Path) -> None:
    assert len(_build(celeba / "celeba", tmp_path, split="test")) == 2


def test_forty_attribute_names_and_zero_one_labels(celeba: Path, tmp_path: Path) -> None:
    valid = _build(celeba, tmp_path, split="valid")
    assert valid.label_kind == "attributes"
    assert valid.label_names == list(CELEBA_ATTRIBUTES) and len(valid.label_names) == 40
    assert valid.labels.shape == (2, 40) and valid.labels.dtype == np.uint8
    # valid holds fixture images 8 and 9; the file says 1 / -1, we expose 1 / 0
    expected = np.array([celeba_attribute_values(8), celeba_attribute_values(9)]) > 0
    np.testing.assert_array_equal(valid.labels, expected.astype(np.uint8))
    _, label = valid[1]
    assert label.dtype == torch.float32 and label.shape == (40,)
    assert label.tolist() == expected[1].astype(np.float32).tolist()


@pytest.mark.parametrize("size", [64, 32])
@pytest.mark.parametrize("crop", ["default", "original", "none"])
def test_every_crop_gives_square_rgb_images(celeba: Path, tmp_path: Path, size: int, crop: str):
    test = _build(celeba, tmp_path, split="test", image_size=size, crop=crop)
    image, _ = test[0]
    assert image.shape == (3, size, size) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert test.images.shape == (2, size, size, 3) and test.images.dtype == np.uint8


def _colour(image: torch.Tensor, row: int, col: int) -> np.ndarray:
    return (image[:, row, col] * 255).round().numpy()


def test_original_crop_is_the_108_box_at_30_40(celeba: Path, tmp_path: Path) -> None:
    image, _ = _build(celeba, tmp_path, split="train", crop="original")[0]
    left, right = celeba_colours(0)
    # the box is exactly the two-coloured region: no grey anywhere, even in the corners
    np.testing.assert_allclose(_colour(image, 1, 1), left, atol=12)
    np.testing.assert_allclose(_colour(image, 62, 62), right, atol=12)


def test_default_crop_is_the_central_148_square(celeba: Path, tmp_path: Path) -> None:
    image, _ = _build(celeba, tmp_path, split="train", crop="default")[0]
    left, right = celeba_colours(0)
    # the central 148x148 (left 15, top 35) shows a grey frame around the two-coloured box
    np.testing.assert_allclose(_colour(image, 0, 0), CELEBA_OUTSIDE, atol=12)
    np.testing.assert_allclose(_colour(image, 32, 12), left, atol=12)
    np.testing.assert_allclose(_colour(image, 32, 52), right, atol=12)


def test_flips_only_with_augment(celeba: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    plain = _build(celeba, tmp_path, split="train", crop="original")
    flipping = _build(celeba, tmp_path, split="train", crop="original", augment=True)
    reference, _ = plain[3]
    assert all(torch.equal(plain[3][0], reference) for _ in range(20))
    draws = [flipping[3][0] for _ in range(40)]
    flipped = [torch.equal(draw, reference.flip(-1)) for draw in draws]
    unflipped = [torch.equal(draw, reference) for draw in draws]
    assert all(a or b for a, b in zip(flipped, unflipped, strict=True))
    assert 5 < sum(flipped) < 35


def test_garbled_attribute_line_names_file_and_line(celeba: Path, tmp_path: Path) -> None:
    path = celeba / "celeba" / "list_attr_celeba.txt"
    lines = path.read_text().splitlines()
    lines[6] = " ".join(lines[6].split()[:12])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"list_attr_celeba.txt line 7: expected 41 fields, got 12"):
        _build(celeba, tmp_path)


def test_attribute_value_other_than_one_is_an_error(celeba: Path, tmp_path: Path) -> None:
    path = celeba / "celeba" / "list_attr_celeba.txt"
    path.write_text(path.read_text().replace("000002.jpg -1", "000002.jpg  7", 1))
    with pytest.raises(DataError, match=r"list_attr_celeba.txt line 4: attribute values"):
        _build(celeba, tmp_path)


def test_missing_partition_file_is_named(celeba: Path, tmp_path: Path) -> None:
    (celeba / "celeba" / "list_eval_partition.txt").unlink()
    with pytest.raises(DataError, match=r"missing .*list_eval_partition.txt") as error:
        _build(celeba, tmp_path)
    assert "\n" not in str(error.value)


def test_garbled_partition_line_is_named(celeba: Path, tmp_path: Path) -> None:
    path = celeba / "celeba" / "list_eval_partition.txt"
    path.write_text(path.read_text().replace("000005.jpg 0", "000005.jpg train"))
    with pytest.raises(DataError, match=r"list_eval_partition.txt line 5"):
        _build(celeba, tmp_path)


def test_missing_root_says_what_the_layout_is(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"--data-root.*img_align_celeba/.*list_attr_celeba.txt"):
        build_dataset("celeba", cache_dir=tmp_path / "cache")


def test_missing_image_is_skipped_not_fatal(celeba: Path, tmp_path: Path) -> None:
    (celeba / "celeba" / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.warns(UserWarning, match=r"skipped 1 .*000002.jpg"):
        train = _build(celeba, tmp_path)
    assert len(train) == 7 and train.skipped == ["000002.jpg"]
    np.testing.assert_array_equal(train.labels[1], np.array(celeba_attribute_values(2)) > 0)
