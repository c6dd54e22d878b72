"""The folder dataset: unreadable files are skipped and reported, every image mode converts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dfcvae.data import DataError, SkippedFilesWarning, build_dataset
from dfcvae.data.splits import folder_split
from tests.data_fixtures import (
    name_in_split,
    save_exif_rotated_jpeg,
    save_sixteen_bit_png,
    save_transparent_palette_png,
    save_truncated_jpeg,
)

SIZE = 16


def _build(root: Path, tmp_path: Path, **options):
    options = {"image_size": SIZE, "progress": False, **options}
    return build_dataset("folder", root=root, cache_dir=tmp_path / "cache", **options)


@pytest.fixture
def awkward(tmp_path: Path) -> dict[str, str]:
    """A train-split folder with one file of each awkward kind; returns {kind: relative path}."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    files = {
        "gray": name_in_split("gray", ".png"),
        "palette": name_in_split("palette", ".PNG"),
        "rgba": name_in_split("sub/rgba", ".png"),
        "cmyk": name_in_split("cmyk", ".jpg"),
        "sixteen": name_in_split("sixteen", ".png"),
        "exif": name_in_split("exif", ".jpeg"),
        "bilevel": name_in_split("bilevel", ".bmp"),
        "empty": name_in_split("empty", ".png"),
        "text": name_in_split("text", ".png"),
        "truncated": name_in_split("truncated", ".jpg"),
    }
    path = {kind: root / name for kind, name in files.items()}
    Image.new("L", (20, 12), 200).save(path["gray"])
    save_transparent_palette_png(path["palette"])
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 1] = 255  # pure green, alpha 0 on the left half, 255 on the right
    rgba[:, 8:, 3] = 255
    Image.fromarray(rgba).save(path["rgba"])
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path["cmyk"], quality=95)  # red
    save_sixteen_bit_png(path["sixteen"])
    save_exif_rotated_jpeg(path["exif"])
    Image.new("1", (16, 16), 1).save(path["bilevel"])
    path["empty"].write_bytes(b"")
    path["text"].write_text("this is not a picture\n")
    save_truncated_jpeg(path["truncated"])
    (root / "notes.txt").write_text("not an image suffix, never looked at")
    return files


def _item(dataset, files: dict[str, str], kind: str) -> torch.Tensor:
    names = [n for n in sorted(files.values()) if n not in dataset.skipped]
    return dataset[names.index(files[kind])][0]


def test_unreadable_files_are_skipped_counted_and_named(tmp_path: Path, awkward) -> None:
    with pytest.warns(SkippedFilesWarning, match=r"skipped 3 unreadable") as record:
        dataset = _build(tmp_path / "images", tmp_path, channels=3)
    bad = sorted(awkward[kind] for kind in ("empty", "text", "truncated"))
    assert sorted(dataset.skipped) == bad
    assert all(name in str(record[0].message) for name in bad)
    assert len(dataset) == len(awkward) - 3
    meta = json.loads((dataset.folder / "meta.json").read_text())
    reasons = {item["name"]: item["reason"] for item in meta["skipped"]}
    assert reasons[awkward["empty"]] == "empty file"
    assert reasons[awkward["text"]] == "not an image"
    assert "truncated" in reasons[awkward["truncated"]]
    assert meta["count"] == len(dataset) and dataset.images.shape[0] == len(dataset)


def test_every_mode_converts_to_rgb_in_range(tmp_path: Path, awkward) -> None:
    with pytest.warns(SkippedFilesWarning):
        dataset = _build(tmp_path / "images", tmp_path, channels=3)
    assert dataset.label_kind is None and dataset.label_names == [] and dataset.labels is None
    for index in range(len(dataset)):
        image, label = dataset[index]
        assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert label.dtype == torch.int64 and label.item() == -1
    gray = _item(dataset, awkward, "gray")
    assert torch.allclose(gray, torch.full_like(gray, 200 / 255), atol=1 / 255)
    cmyk = _item(dataset, awkward, "cmyk")
    assert cmyk[0].mean() > 0.9 and cmyk[1].mean() < 0.1 and cmyk[2].mean() < 0.1
    assert _item(dataset, awkward, "bilevel").min() == 1.0


def test_transparency_is_composited_on_black(tmp_path: Path, awkward) -> None:
    with pytest.warns(SkippedFilesWarning):
        dataset = _build(tmp_path / "images", tmp_path, channels=3)
    rgba = _item(dataset, awkward, "rgba")
    assert rgba[:, :, :6].max() == 0.0  # transparent green is black
    green = torch.tensor([0.0, 1.0, 0.0])[:, None, None].expand(3, SIZE, 6)
    assert torch.equal(rgba[:, :, 10:], green)
    palette = _item(dataset, awkward, "palette")
    assert palette[:, :, :6].max() == 0.0  # transparent red palette entry is black
    assert palette[:, :, 10:].min() == 1.0


def test_sixteen_bit_image_is_scaled_not_clipped(tmp_path: Path, awkward) -> None:
    with pytest.warns(SkippedFilesWarning):
        dataset = _build(tmp_path / "images", tmp_path, channels=1)
    ramp = _item(dataset, awkward, "sixteen")[0, 0] * 255
    expected = np.linspace(0, 65535, 16).round() / 257
    np.testing.assert_allclose(ramp.numpy(), expected, atol=1.0)
    assert 0 < (ramp > 254).sum() < 4  # a clipping decoder would make almost all of it 255


def test_exif_orientation_is_applied(tmp_path: Path, awkward) -> None:
    with pytest.warns(SkippedFilesWarning):
        dataset = _build(tmp_path / "images", tmp_path, channels=3)
    image = _item(dataset, awkward, "exif")
    top, bottom = image[:, 1, SIZE // 2], image[:, SIZE - 2, SIZE // 2]
    assert top[0] > 0.9 and top[2] < 0.1  # red on top: the file was turned upright
    assert bottom[2] > 0.9 and bottom[0] < 0.1


def test_grayscale_output_has_one_channel(tmp_path: Path, awkward) -> None:
    with pytest.warns(SkippedFilesWarning):
        dataset = _build(tmp_path / "images", tmp_path, channels=1)
    assert dataset.images.shape[1:] == (SIZE, SIZE, 1)
    assert dataset[0][0].shape == (1, SIZE, SIZE)


def test_folder_split_is_by_path_hash_and_deterministic(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    names = [f"img{i:03d}.png" for i in range(60)]
    for i, name in enumerate(names):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(root / name)
    sizes = {}
    for split in ("train", "valid", "test"):
        dataset = _build(root, tmp_path, split=split, image_size=8)
        assert sorted(dataset.meta["skipped"]) == []
        sizes[split] = len(dataset)
        reds = sorted(round(float(dataset[i][0][0, 0, 0]) * 255) for i in range(len(dataset)))
        assert reds == [i for i, name in enumerate(names) if folder_split(name) == split]
    assert sum(sizes.values()) == 60 and sizes["train"] > sizes["valid"]


def test_class_labels_file(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    root.mkdir()
    rows = ["path,label"]
    expected = {}
    for i in range(6):
        name = name_in_split(f"pet{i}", ".png")
        Image.new("RGB", (10, 10), (40 * i, 0, 0)).save(root / name)
        rows.append(f"{name},{'cat' if i % 2 else 'dog'}")
        expected[name] = "cat" if i % 2 else "dog"
    (root / "unlisted.png").write_bytes((root / name).read_bytes())
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.warns(SkippedFilesWarning, match="1 image.*no row in labels.csv"):
        dataset = _build(root, tmp_path, labels_file=tmp_path / "labels.csv", image_size=8)
    assert dataset.label_kind == "class" and dataset.label_names == ["cat", "dog"]
    assert dataset.labels.dtype == np.int64
    got = {name: dataset.label_names[int(dataset[i][1])] for i, name in enumerate(sorted(expected))}
    assert got == expected
    assert dataset[0][1].dtype == torch.int64 and dataset[0][1].shape == ()


def pets_folder(tmp_path: Path, n: int = 4) -> tuple[Path, list[str]]:
    root = tmp_path / "pets"
    root.mkdir()
    names = [name_in_split(f"pet{i}", ".png") for i in range(n)]
    for i, name in enumerate(names):
        Image.new("RGB", (10, 10), (40 * i, 0, 0)).save(root / name)
    return root, names


@pytest.mark.parametrize("header", ["filename,label", "image_id,class", "File,Label"])
def test_any_header_naming_no_image_is_a_header(tmp_path: Path, header: str) -> None:
    root, names = pets_folder(tmp_path)
    rows = [header] + [f"{name},{'cat' if i % 2 else 'dog'}" for i, name in enumerate(names)]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    dataset = _build(root, tmp_path, labels_file=tmp_path / "labels.csv", image_size=8)
    assert dataset.label_kind == "class" and dataset.label_names == ["cat", "dog"]


def test_rows_naming_missing_files_are_counted_and_named(tmp_path: Path) -> None:
    root, names = pets_folder(tmp_path)
    rows = [f"{name},cat" for name in names] + ["gone/lost.png,dog", "away.jpg,dog"]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.warns(SkippedFilesWarning, match=r"2 row\(s\) of labels.csv .*\(away.jpg, gone"):
        dataset = _build(root, tmp_path, labels_file=tmp_path / "labels.csv", image_size=8)
    assert dataset.label_names == ["cat", "dog"] and len(dataset) == len(names)


def test_a_labels_file_naming_no_image_of_the_folder_is_a_data_error(tmp_path: Path) -> None:
    root, names = pets_folder(tmp_path)
    (tmp_path / "labels.csv").write_text("elsewhere/a.png,cat\nelsewhere/b.png,dog\n")
    with pytest.raises(DataError, match=r"none of the 2 rows of .*labels.csv names an image"):
        _build(root, tmp_path, labels_file=tmp_path / "labels.csv", image_size=8)


def test_a_second_header_line_is_a_data_error_naming_its_line(tmp_path: Path) -> None:
    root, names = pets_folder(tmp_path)
    (tmp_path / "labels.csv").write_text(f"path,label\n{names[0]},cat\npath,label\n")
    with pytest.raises(DataError, match=r"labels.csv line 3: 'path' is not an image file name"):
        _build(root, tmp_path, labels_file=tmp_path / "labels.csv", image_size=8)


def test_attribute_labels_file_accepts_minus_one(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    (root / "a").mkdir(parents=True)
    names = [name_in_split(f"a/face{i}", ".jpg") for i in range(4)]
    for i, name in enumerate(names):
        Image.new("RGB", (12, 10), (0, 60 * i, 0)).save(root / name)
    values = [(1, -1), (0, 1), (-1, -1), (1, 1)]
    lines = ["path,Smiling,Eyeglasses"] + [
        f"./{n},{a},{b}" for n, (a, b) in zip(names, values, strict=True)
    ]
    (root / "attrs.csv").write_text("\n".join(lines) + "\n")
    dataset = _build(root, tmp_path, labels_file=root / "attrs.csv", image_size=8)
    assert dataset.label_kind == "attributes" and dataset.label_names == ["Smiling", "Eyeglasses"]
    assert dataset.labels.dtype == np.uint8
    np.testing.assert_array_equal(dataset.labels, [[1, 0], [0, 1], [0, 0], [1, 1]])
    label = dataset[1][1]
    assert label.dtype == torch.float32 and label.tolist() == [0.0, 1.0]


def test_garbled_labels_file_names_line(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    root.mkdir()
    name = name_in_split("face", ".png")
    Image.new("RGB", (8, 8)).save(root / name)
    (root / "attrs.csv").write_text(f"path,Smiling,Young\n{name},1,yes\n")
    with pytest.raises(DataError, match=r"attrs.csv line 2: attribute values must be 0/1 or -1/1"):
        _build(root, tmp_path, labels_file=root / "attrs.csv")


def test_empty_or_missing_folder_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no pictures here")
    with pytest.raises(DataError, match=r"no image files .* in .*empty"):
        _build(tmp_path / "empty", tmp_path)
    with pytest.raises(DataError, match=r"image folder .*nowhere does not exist"):
        _build(tmp_path / "nowhere", tmp_path)


def test_folder_of_only_broken_files_is_a_data_error(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    root.mkdir()
    for i in range(3):
        (root / name_in_split(f"bad{i}", ".png")).write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"no usable images for folder train in .*broken"):
        _build(root, tmp_path)


def test_decompression_bomb_is_skipped(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "bombs"
    root.mkdir()
    Image.new("RGB", (8, 8), (9, 9, 9)).save(root / name_in_split("small", ".png"))
    bomb = name_in_split("bomb", ".png")
    Image.new("RGB", (64, 64)).save(root / bomb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64x64 is over it, 8x8 is not
    with pytest.warns(SkippedFilesWarning, match=bomb):
        dataset = _build(root, tmp_path, image_size=8)
    assert dataset.skipped == [bomb] and len(dataset) == 1
    assert "decompression bomb" in dataset.meta["skipped"][0]["reason"]
