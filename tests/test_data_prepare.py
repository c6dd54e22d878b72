"""One image path: a user's photo is prepared by the very function each data set's cache build
uses (EXIF orientation, the data set's crop, resize), for explorer uploads and for
`interpolate --left/--right photo.jpg` alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dfcvae.analysis.user_images import read_image as read_for_run
from dfcvae.data import build_dataset
from dfcvae.data.celeba import FRAME
from dfcvae.data.prepare import native_size, prepare_image, read_image
from dfcvae.explore import decode_upload
from dfcvae.explore import prepare_image as prepare_upload
from dfcvae.vae.presets import config_from_preset
from tests.data_fixtures import make_celeba

RECIPES = [
    ("celeba", "default"),
    ("celeba", "original"),
    ("celeba", "none"),
    ("fashion-mnist", "default"),
    ("cifar10", "default"),
    ("folder", "default"),
    ("folder", "none"),
]


def photo(width: int, height: int) -> Image.Image:
    """A smooth picture with a bright disc left of centre and a dark bar at the top: any turn
    or mirror of it moves them."""
    x, y = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
    red = 40 + 160 * x
    green = 200 * (((x - 0.35) ** 2 + (y - 0.5) ** 2) < 0.04) + 30
    blue = np.where(y < 0.15, 10, 160 + 60 * y)
    return Image.fromarray(np.stack([red, green, blue], -1).astype(np.uint8))


def save_jpeg(image: Image.Image, path: Path, orientation: int | None = None) -> Path:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(path, quality=95, exif=exif.tobytes())
    return path


def as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


@pytest.mark.parametrize(("dataset", "crop"), RECIPES, ids=[f"{d}-{c}" for d, c in RECIPES])
def test_an_exif_rotated_jpeg_is_prepared_upright(tmp_path, dataset, crop):
    upright = photo(240, 300)
    straight = save_jpeg(upright, tmp_path / "straight.jpg")
    # Stored turned a quarter to the left, tagged "turn 90 degrees clockwise to view" (6).
    turned = save_jpeg(upright.transpose(Image.Transpose.ROTATE_90), tmp_path / "t.jpg", 6)
    ignored = save_jpeg(upright.transpose(Image.Transpose.ROTATE_90), tmp_path / "i.jpg")
    channels = 1 if dataset == "fashion-mnist" else 3
    size = 32 if dataset in ("fashion-mnist", "cifar10") else 64
    want = as_array(read_image(straight, dataset, size, channels, crop))
    got = as_array(read_image(turned, dataset, size, channels, crop))
    assert got.shape == want.shape == ((size, size) if channels == 1 else (size, size, 3))
    assert np.abs(got - want).mean() < 2.0  # JPEG noise only
    wrong = as_array(read_image(ignored, dataset, size, channels, crop))
    assert np.abs(wrong - want).mean() > 10 * np.abs(got - want).mean() + 5


def test_upload_decoding_and_the_run_options_use_the_same_function(tmp_path):
    path = save_jpeg(photo(300, 240).transpose(Image.Transpose.ROTATE_270), tmp_path / "p.jpg", 8)
    for dataset, crop in RECIPES:
        config = config_from_preset("vae-123", {"data": {"dataset": dataset, "crop": crop}})
        model = config.model
        direct = np.asarray(read_image(path, dataset, model.image_size, model.channels, crop))
        upload = prepare_upload(decode_upload(path.read_bytes(), shrink_to=256), config)
        from_option = read_for_run(path, config)
        as_uint8 = upload.mul(255).round().byte().permute(1, 2, 0).squeeze(-1).numpy()
        np.testing.assert_array_equal(as_uint8, direct)
        torch.testing.assert_close(from_option, upload, rtol=0, atol=0)


@pytest.mark.parametrize("crop", ["default", "original", "none"])
def test_a_celeba_sized_photo_gives_the_cached_pixels_of_that_file(tmp_path, crop):
    """178x218 is the aligned CelebA size: a user's photo of that size is cut exactly as the
    cache cuts its files, so each file of the data set gives its cached pixels."""
    base = make_celeba(tmp_path)
    files = sorted((base / "img_align_celeba").glob("*.jpg"))
    assert Image.open(files[0]).size == FRAME == native_size("celeba")
    prepared = [np.asarray(read_image(path, "celeba", 64, 3, crop)) for path in files]
    for split in ("train", "test"):
        cached = build_dataset(
            "celeba",
            root=tmp_path,
            split=split,
            image_size=64,
            crop=crop,
            cache_dir=tmp_path / "cache",
            progress=False,
        ).images
        for image in cached:
            assert any(np.array_equal(image, mine) for mine in prepared)


def test_a_larger_photo_is_cut_as_the_celeba_frame_would_be(tmp_path):
    small = photo(*FRAME)
    large = small.resize((FRAME[0] * 3, FRAME[1] * 3), Image.Resampling.BICUBIC)
    wide = Image.new("RGB", (FRAME[0] * 5, FRAME[1] * 3), (0, 255, 0))  # green bands beside
    wide.paste(large, (FRAME[0], 0))
    want = as_array(prepare_image(small, "celeba", 64, 3, "original"))
    for picture in (large, wide):
        got = as_array(prepare_image(picture, "celeba", 64, 3, "original"))
        assert np.abs(got - want).mean() < 3.0  # the same face box, resampled
    assert np.abs(as_array(prepare_image(wide, "folder", 64, 3, "default")) - want).mean() > 10


def test_a_photo_for_a_digits_run_is_squared_then_padded_like_the_28_pixel_files():
    picture = photo(90, 60)
    image = np.asarray(prepare_image(picture, "fashion-mnist", 32, 1, "default"))
    assert image.shape == (32, 32)
    assert (image[:2] == 0).all() and (image[:, :2] == 0).all()  # the 2-pixel black frame
    assert (image[:, -2:] == 0).all() and (image[-2:] == 0).all()
    assert image[2:30, 2:30].std() > 10  # the photo, shrunk into the middle


def test_a_broken_or_missing_file_is_one_line_for_the_option(tmp_path):
    from dfcvae.errors import ConfigError

    config = config_from_preset("pvae")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really")
    for path in (broken, tmp_path / "missing.jpg"):
        with pytest.raises(ConfigError, match=rf"{path.name}: not a readable image") as caught:
            read_for_run(path, config)
        assert "\n" not in str(caught.value)
