"""CelebA from generated trees in both real layouts (torchvision's .txt lists, Kaggle's .csv lists
and nested image folder): splits, attributes, crops, flips, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dfcvae.data import DataError, build_dataset
from dfcvae.data.celeba import ORIGINAL_BOX, original_crop, prepare
from dfcvae.data.celeba_files import read_attributes, read_partition, split_labels
from tests.data_fixtures import (
    CELEBA_ATTRIBUTES,
    CELEBA_LAYOUTS,
    CELEBA_OUTSIDE,
    CELEBA_SIZES,
    celeba_attribute_values,
    celeba_colours,
    celeba_files,
    make_celeba,
    write_full_size_celeba_lists,
)


@pytest.fixture(params=CELEBA_LAYOUTS)
def layout(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def celeba(tmp_path: Path, layout: str) -> Path:
    """The folder given as --data-root (the files lie in its ``celeba/`` subfolder)."""
    make_celeba(tmp_path / "data", layout)
    return tmp_path / "data"


def _lists(celeba: Path, layout: str) -> tuple[Path, Path]:
    return celeba_files(celeba / "celeba", layout)


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


def _gradient_image() -> Image.Image:
    """A 178x218 aligned-CelebA-sized image whose pixel (x, y) is (x, y, 7)."""
    x, y = np.meshgrid(np.arange(178), np.arange(218))
    return Image.fromarray(np.stack([x, y, np.full_like(x, 7)], -1).astype(np.uint8))


def test_original_crop_is_the_138_box_of_the_original_code() -> None:
    assert ORIGINAL_BOX == (30, 40, 168, 178)
    box = original_crop(_gradient_image())
    assert box.size == (138, 138)
    corners = {(0, 0): (30, 40), (137, 0): (167, 40), (0, 137): (30, 177), (137, 137): (167, 177)}
    for at, (x, y) in corners.items():
        assert box.getpixel(at) == (x, y, 7)
    resized = np.asarray(prepare(128, "original")(_gradient_image()), dtype=float)
    assert resized.shape == (128, 128, 3)
    np.testing.assert_allclose(resized[0, 0], (30, 40, 7), atol=1)
    np.testing.assert_allclose(resized[-1, -1], (167, 177, 7), atol=1)


def test_original_crop_of_a_face_file_is_the_two_coloured_box(celeba: Path, tmp_path: Path):
    image, _ = _build(celeba, tmp_path, split="train", crop="original")[0]
    left, right = celeba_colours(0)
    # the box is exactly the two-coloured region, split in the middle: no grey in the corners
    for row, col, colour in [(1, 1, left), (62, 1, left), (1, 62, right), (62, 62, right),
                             (32, 28, left), (32, 36, right)]:  # fmt: skip
        np.testing.assert_allclose(_colour(image, row, col), colour, atol=12)


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


def test_kaggle_layout_is_read_from_its_nested_image_folder(tmp_path: Path) -> None:
    make_celeba(tmp_path / "data", "kaggle")
    assert (tmp_path / "data/celeba/img_align_celeba/img_align_celeba/000001.jpg").is_file()
    assert not (tmp_path / "data/celeba/list_attr_celeba.txt").exists()
    valid = _build(tmp_path / "data", tmp_path, split="valid")
    assert len(valid) == 2 and valid.label_names == list(CELEBA_ATTRIBUTES)


def _edit_line(path: Path, index: int, edit) -> None:
    lines = path.read_text().splitlines()
    lines[index] = edit(lines[index])
    path.write_text("\n".join(lines) + "\n")


def _separator(layout: str) -> str:
    return " " if layout == "torchvision" else ","


def test_garbled_attribute_line_names_file_and_line(celeba: Path, tmp_path: Path, layout: str):
    attributes, _ = _lists(celeba, layout)
    header = 2 if layout == "torchvision" else 1
    sep = _separator(layout)
    # the 5th image's row, cut to 12 fields
    _edit_line(attributes, header + 4, lambda line: sep.join(line.split(sep.strip() or None)[:12]))
    with pytest.raises(
        DataError, match=rf"{attributes.name} line {header + 5}: expected 41 fields, got 12"
    ):
        _build(celeba, tmp_path)


@pytest.mark.parametrize("bad", ["7", "0", "x"])
def test_attribute_value_other_than_one_is_an_error(
    celeba: Path, tmp_path: Path, layout: str, bad: str
) -> None:
    attributes, _ = _lists(celeba, layout)
    header = 2 if layout == "torchvision" else 1
    # the 2nd image's first value (-1)
    _edit_line(attributes, header + 1, lambda line: line.replace("-1", bad, 1))
    message = rf"{attributes.name} line {header + 2}: attribute values must be 1 or -1"
    with pytest.raises(DataError, match=message):
        _build(celeba, tmp_path)


def test_wrong_attribute_names_are_named(celeba: Path, tmp_path: Path, layout: str) -> None:
    attributes, _ = _lists(celeba, layout)
    line = 1 if layout == "kaggle" else 2
    attributes.write_text(attributes.read_text().replace("Bald", "Bold", 1))
    with pytest.raises(
        DataError,
        match=rf"{attributes.name} line {line}: .*40 .* names.*name 5 is 'Bold', expected 'Bald'",
    ):
        _build(celeba, tmp_path)
    attributes.write_text(
        attributes.read_text().replace("Bold", f"Bald{_separator(layout)}Blue", 1)
    )
    with pytest.raises(DataError, match=rf"{attributes.name} line {line}: .*found 41 names"):
        _build(celeba, tmp_path)


def test_repeated_image_is_named(celeba: Path, tmp_path: Path, layout: str) -> None:
    attributes, partition = _lists(celeba, layout)
    header = 2 if layout == "torchvision" else 1
    _edit_line(attributes, header + 3, lambda line: line.replace("000004.jpg", "000003.jpg"))
    with pytest.raises(
        DataError, match=rf"{attributes.name} line {header + 4}: 000003.jpg is listed twice"
    ):
        _build(celeba, tmp_path)


def test_partition_image_without_attributes_is_named(celeba: Path, tmp_path: Path, layout: str):
    attributes, partition = _lists(celeba, layout)
    partition.write_text(partition.read_text().replace("000003.jpg", "999999.jpg"))
    with pytest.raises(
        DataError, match=rf"{attributes.name} has no row for 999999.jpg .*{partition.name}"
    ):
        _build(celeba, tmp_path)


def test_truncated_lists_are_counted(celeba: Path, tmp_path: Path, layout: str) -> None:
    attributes, partition = _lists(celeba, layout)
    partition.write_text("\n".join(partition.read_text().splitlines()[:-2]) + "\n")
    with pytest.raises(
        DataError, match=rf"{partition.name} lists 10 images but {attributes.name} lists 12"
    ):
        _build(celeba, tmp_path)


def test_txt_image_count_line_is_checked(tmp_path: Path) -> None:
    base = make_celeba(tmp_path / "data", "torchvision")
    attributes, partition = celeba_files(base, "torchvision")
    attributes.write_text("13" + attributes.read_text()[2:])
    with pytest.raises(
        DataError, match=r"list_attr_celeba.txt line 1: says 13 images but the file lists 12"
    ):
        _build(tmp_path / "data", tmp_path)


def test_missing_partition_file_is_named(celeba: Path, tmp_path: Path, layout: str) -> None:
    _lists(celeba, layout)[1].unlink()
    with pytest.raises(DataError, match=r"missing .*list_eval_partition.txt \(or .csv\)") as error:
        _build(celeba, tmp_path)
    assert "\n" not in str(error.value)


def test_garbled_partition_line_is_named(celeba: Path, tmp_path: Path, layout: str) -> None:
    _, partition = _lists(celeba, layout)
    sep = _separator(layout)
    partition.write_text(
        partition.read_text().replace(f"000005.jpg{sep}0", f"000005.jpg{sep}train")
    )
    line = 5 if layout == "torchvision" else 6
    with pytest.raises(DataError, match=rf"{partition.name} line {line}: expected"):
        _build(celeba, tmp_path)


def test_kaggle_partition_header_is_checked(tmp_path: Path) -> None:
    base = make_celeba(tmp_path / "data", "kaggle")
    _, partition = celeba_files(base, "kaggle")
    partition.write_text(partition.read_text().replace("image_id,partition", "id,split"))
    with pytest.raises(DataError, match=r"list_eval_partition.csv line 1: expected the header"):
        _build(tmp_path / "data", tmp_path)


def test_missing_root_says_what_the_layout_is(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"--data-root.*img_align_celeba/.*list_attr_celeba.txt/.csv"
    ):
        build_dataset("celeba", cache_dir=tmp_path / "cache")


def test_missing_image_is_skipped_not_fatal(celeba: Path, tmp_path: Path, layout: str) -> None:
    images = celeba / "celeba" / "img_align_celeba"
    (images / ("img_align_celeba" if layout == "kaggle" else "") / "000002.jpg").unlink()
    with pytest.warns(UserWarning, match=r"skipped 1 .*000002.jpg"):
        train = _build(celeba, tmp_path)
    assert len(train) == 7 and train.skipped == ["000002.jpg"]
    np.testing.assert_array_equal(train.labels[1], np.array(celeba_attribute_values(2)) > 0)


def test_full_size_lists_parse_with_the_official_counts(tmp_path: Path, layout: str) -> None:
    """202,599 rows, as in the real release (its parse time: benchmarks/celeba_lists.py)."""
    write_full_size_celeba_lists(tmp_path, layout)
    attributes, partition = celeba_files(tmp_path, layout)
    table = read_attributes(attributes)
    assert table.names == list(CELEBA_ATTRIBUTES)
    assert len(table.images) == 202_599 and table.values.shape == (202_599, 40)
    assert table.images[0] == "000001.jpg" and table.images[-1] == "202599.jpg"
    pattern = np.array([celeba_attribute_values(i) for i in range(3)]) > 0
    np.testing.assert_array_equal(table.values, pattern[np.arange(202_599) % 3])
    parts = np.array([part for _, part in read_partition(partition)])
    assert tuple(np.bincount(parts)) == CELEBA_SIZES
    names, _, labels = split_labels(attributes, partition, "valid")
    first = CELEBA_SIZES[0]
    assert len(names) == CELEBA_SIZES[1] and names[0] == f"{first + 1:06d}.jpg"
    np.testing.assert_array_equal(labels, table.values[first : first + CELEBA_SIZES[1]])
