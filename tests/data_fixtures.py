"""Small real data for the data-layer tests: a CelebA tree and a folder of awkward images."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from dfcvae.data.splits import folder_split
from dfcvae.files import CONFIG_FILE, MODEL_FILE

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

CELEBA_ATTRIBUTES = tuple(
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes "
    "No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling "
    "Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace "
    "Wearing_Necktie Young".split()
)

# Inside the original DFC-VAE crop box (left 30, top 40, right 168, bottom 178: 138x138) each
# face image is split into a left and a right colour; outside the box it is grey. Colours are far
# apart so JPEG and resizing cannot confuse them.
CELEBA_BOX = (30, 40, 168, 178)
CELEBA_OUTSIDE = (128, 128, 128)
CELEBA_PARTITION = (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2)  # 8 train, 2 valid, 2 test
CELEBA_LAYOUTS = ("torchvision", "kaggle")
CELEBA_SIZES = (162_770, 19_867, 19_962)  # the official train, valid and test partitions


def celeba_colours(index: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The (left, right) colours of CelebA fixture image ``index`` (0-based)."""
    left = (255, 40 + 15 * index, 0)
    right = (0, 40 + 15 * index, 255)
    return left, right


def celeba_attribute_values(index: int) -> list[int]:
    """The 1/-1 attribute row of fixture image ``index``: attribute a is 1 when (a + i) % 3 == 0."""
    return [1 if (a + index) % 3 == 0 else -1 for a in range(40)]


def celeba_files(base: Path, layout: str) -> tuple[Path, Path]:
    """The attribute and partition files of ``layout`` ("torchvision" .txt, "kaggle" .csv)."""
    suffix = ".txt" if layout == "torchvision" else ".csv"
    return base / f"list_attr_celeba{suffix}", base / f"list_eval_partition{suffix}"


def write_celeba_lists(base: Path, layout: str, partition: list[int] | tuple[int, ...]) -> None:
    """Attribute and partition files for images 000001.jpg ... in ``layout``: image i gets
    ``celeba_attribute_values(i)`` and partition ``partition[i]``."""
    attributes, partitions = celeba_files(base, layout)
    rows = [celeba_attribute_values(i) for i in range(3)]  # the pattern repeats every 3 images
    names = [f"{i + 1:06d}.jpg" for i in range(len(partition))]
    if layout == "torchvision":
        values = ["  ".join(f"{v:2d}" for v in row) for row in rows]
        head = [str(len(names)), " ".join(CELEBA_ATTRIBUTES) + " "]
        lines = [f"{name} {values[i % 3]}" for i, name in enumerate(names)]
        parts = [f"{name} {part}" for name, part in zip(names, partition)]
        part_head = []
    else:
        values = [",".join(str(v) for v in row) for row in rows]
        head = ["image_id," + ",".join(CELEBA_ATTRIBUTES)]
        lines = [f"{name},{values[i % 3]}" for i, name in enumerate(names)]
        parts = [f"{name},{part}" for name, part in zip(names, partition)]
        part_head = ["image_id,partition"]
    attributes.write_text("\n".join(head + lines) + "\n")
    partitions.write_text("\n".join(part_head + parts) + "\n")


def write_full_size_celeba_lists(base: Path, layout: str) -> None:
    """The lists of a CelebA-sized release: 202,599 images in the official partition sizes."""
    base.mkdir(parents=True, exist_ok=True)
    partition = [part for part, size in enumerate(CELEBA_SIZES) for _ in range(size)]
    write_celeba_lists(base, layout, partition)


def make_celeba(root: Path, layout: str = "torchvision") -> Path:
    """Write a 12-image CelebA under ``root / "celeba"`` and return that folder: torchvision's
    layout (.txt lists, images in img_align_celeba/) or Kaggle's (.csv lists, images in
    img_align_celeba/img_align_celeba/)."""
    base = root / "celeba"
    images = base / "img_align_celeba"
    if layout == "kaggle":
        images = images / "img_align_celeba"
    images.mkdir(parents=True)
    left_edge, top, right_edge, bottom = CELEBA_BOX
    middle = (left_edge + right_edge) // 2
    for index in range(len(CELEBA_PARTITION)):
        pixels = np.full((218, 178, 3), CELEBA_OUTSIDE, dtype=np.uint8)
        left, right = celeba_colours(index)
        pixels[top:bottom, left_edge:middle] = left
        pixels[top:bottom, middle:right_edge] = right
        Image.fromarray(pixels).save(images / f"{index + 1:06d}.jpg", quality=95)
    write_celeba_lists(base, layout, CELEBA_PARTITION)
    return base


def name_in_split(stem: str, suffix: str, split: str = "train") -> str:
    """A file name ``<stem>-<k><suffix>`` that the folder dataset puts in ``split``."""
    k = 0
    while folder_split(f"{stem}-{k}{suffix}") != split:
        k += 1
    return f"{stem}-{k}{suffix}"


def save_exif_rotated_jpeg(path: Path) -> None:
    """A 64x32 JPEG, left half red and right half blue, tagged "rotate 90 clockwise" (6).

    Shown upright it is 32 wide and 64 tall: red on top, blue below.
    """
    pixels = np.zeros((32, 64, 3), dtype=np.uint8)
    pixels[:, :32] = (255, 0, 0)
    pixels[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(path, quality=95, exif=exif.tobytes())


def save_transparent_palette_png(path: Path) -> None:
    """A 16x16 palette PNG: left half fully transparent (palette 0), right half opaque white."""
    img = Image.new("P", (16, 16), 0)
    img.putpalette([255, 0, 0] + [255, 255, 255] + [0, 0, 0] * 254)
    img.paste(1, (8, 0, 16, 16))
    img.save(path, transparency=0)


def save_sixteen_bit_png(path: Path) -> None:
    """A 16x16 16-bit grayscale PNG, a horizontal ramp from 0 to 65535."""
    ramp = np.linspace(0, 65535, 16).round().astype(np.uint16)
    Image.fromarray(np.tile(ramp, (16, 1))).save(path)


def save_truncated_jpeg(path: Path) -> None:
    """A JPEG cut off after half its bytes."""
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    Image.fromarray(noise).save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def copy_run(run: Path, to: Path) -> Path:
    """A run directory of its own (config and weights only), so what a test caches in
    ``RUN/analysis/`` lands in that test's folder."""
    to.mkdir(parents=True)
    for name in (CONFIG_FILE, MODEL_FILE):
        shutil.copy(run / name, to / name)
    return to
