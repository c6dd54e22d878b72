"""Untrusted files: model files and checkpoints never run code, and no image file crashes the
folder loader (or a DataLoader worker): each is kept or skipped with a counted warning.

(``tests/test_data_folder.py`` covers truncated JPEG, 0-byte and text files, 16-bit, CMYK,
transparent palette and EXIF-rotated images, and a decompression bomb under a lowered limit;
``tests/test_data_datamodule.py`` that a pickled dataset carries no image array.)
"""

from __future__ import annotations

import io
import struct
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

import dfcvae
from dfcvae.cli import main
from dfcvae.data import DataError, DFCVAEDataModule, SkippedFilesWarning, build_dataset
from dfcvae.errors import RunDirError, WeightsError
from dfcvae.files import read_tensors, write_json
from dfcvae.loss_networks.weights import load_weights_file
from dfcvae.training.resume import AtomicCheckpointIO, read_checkpoint, resume_checkpoint
from tests.data_fixtures import name_in_split, save_truncated_jpeg


class CreatesAFile:
    """Unpickling this calls ``open(marker, "w")``: the file appears if the pickle is run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def malicious(path: Path, marker: Path) -> Path:
    """A real torch file (zip archive) whose pickle creates ``marker`` when loaded unsafely."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": CreatesAFile(marker), "global_step": 1, "loops": {}}, path)
    return path


def test_the_marker_pickle_really_runs_code_when_unpickled(tmp_path: Path, marker) -> None:
    """The control: without weights_only the file does create the marker."""
    torch.load(malicious(tmp_path / "evil.ckpt", marker), weights_only=False)
    assert marker.exists()


def test_a_malicious_checkpoint_is_refused_and_never_run(tmp_path: Path, marker, capsys) -> None:
    run = tmp_path / "run"
    evil = malicious(run / "checkpoints" / "last.ckpt", marker)
    with pytest.raises(RunDirError, match=r"last.ckpt: corrupt, or pickled objects other than"):
        read_checkpoint(evil)
    with pytest.raises(RunDirError, match=r"last.ckpt: corrupt, or pickled objects"):
        AtomicCheckpointIO().load_checkpoint(evil)  # the path Lightning's Trainer loads through
    with pytest.raises(RunDirError, match=r"no readable checkpoint"):
        resume_checkpoint(run)
    config = {"model": {"image_size": 32, "channels": 1}}
    write_json(run / "config.json", dfcvae.config_from_preset("pvae", config).to_dict())
    code = main(["train", "--out", str(run), "--resume", "--preset", "pvae", "--quiet",
                 "--image-size", "32", "--channels", "1"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "last.ckpt" in err[0], err
    assert not marker.exists()


def test_a_malicious_model_pt_is_refused_and_never_run(tmp_path: Path, marker) -> None:
    evil = malicious(tmp_path / "model.pt", marker)
    with pytest.raises(WeightsError, match=r"model.pt: not a readable weights file"):
        load_weights_file(evil)  # --loss-weights model.pt
    pickled_as_safetensors = malicious(tmp_path / "model.safetensors", marker)
    with pytest.raises(RunDirError, match=r"model.safetensors: corrupt or not a safetensors"):
        read_tensors(pickled_as_safetensors)
    run = tmp_path / "run"  # a run directory with a model.pt beside its weights: never read
    run.mkdir()
    write_json(run / "config.json", dfcvae.config_from_preset("pvae").to_dict())
    malicious(run / "model.pt", marker)
    with pytest.raises(RunDirError, match=r"model.safetensors: missing"):
        dfcvae.load(run)
    (run / "model.safetensors").write_bytes(pickled_as_safetensors.read_bytes())
    with pytest.raises(RunDirError, match=r"corrupt or not a safetensors file"):
        dfcvae.load(run)
    assert not marker.exists()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def gray_png(width: int, height: int, rows: bytes | None = None) -> bytes:
    """An 8-bit grayscale PNG of the declared size; ``rows`` is its compressed data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = rows if rows is not None else zlib.compress(b"")
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))  # fmt: skip


def zero_rows(width: int, height: int) -> bytes:
    """Compressed PNG scanlines of zeros: a 100-megapixel image in about 100 kB."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    return b"".join(packer.compress(row) for _ in range(height)) + packer.flush()


def test_decompression_bombs_are_skipped_at_pils_own_limit(tmp_path: Path) -> None:
    """No lowered limit here: real files over ``Image.MAX_IMAGE_PIXELS`` (89 megapixels)."""
    root = tmp_path / "bombs"
    root.mkdir()
    Image.new("L", (8, 8), 77).save(root / name_in_split("fine", ".png"))
    declared = name_in_split("declared-40000x40000", ".png")  # 1.6 gigapixels, 60 bytes
    (root / declared).write_bytes(gray_png(40_000, 40_000))
    compressed = name_in_split("real-10000x10000", ".png")  # 100 megapixels, ~100 kB
    (root / compressed).write_bytes(gray_png(10_000, 10_000, zero_rows(10_000, 10_000)))
    assert (root / compressed).stat().st_size < 200_000
    with pytest.warns(SkippedFilesWarning, match=r"skipped 2 unreadable") as record:
        dataset = build_dataset("folder", root=root, cache_dir=tmp_path / "c", image_size=8,
                                progress=False)  # fmt: skip
    assert len(dataset) == 1 and dataset[0][0].mul(255).round().unique().tolist() == [77.0]
    reasons = {item["name"]: item["reason"] for item in dataset.meta["skipped"]}
    assert set(reasons) == {declared, compressed}
    assert all(reason.startswith("decompression bomb") for reason in reasons.values())
    assert declared in str(record[0].message) and compressed in str(record[0].message)


def test_bad_files_never_reach_the_dataloader_workers(tmp_path: Path) -> None:
    """Files are decoded once, in the main process, while the cache is built; the workers only
    read its uint8 array, so no bad file can fail inside a worker."""
    root = tmp_path / "scraped"
    root.mkdir()
    for i in range(40):
        colour = (i * 6, 255 - i * 6, 128)
        Image.new("RGB", (20 + i, 30), colour).save(root / name_in_split(f"ok{i}", ".jpg"))
    for i in range(2):
        Image.new("RGB", (9, 9)).save(root / name_in_split(f"val{i}", ".png", split="valid"))
    (root / name_in_split("empty", ".png")).write_bytes(b"")
    (root / name_in_split("text", ".png")).write_text("<html>not found</html>")
    save_truncated_jpeg(root / name_in_split("cut", ".jpg"))
    (root / name_in_split("bomb", ".png")).write_bytes(gray_png(40_000, 40_000))
    datamodule = DFCVAEDataModule(
        "folder", root=root, cache_dir=tmp_path / "c", image_size=32, batch_size=8,
        num_workers=2, pin_memory=False, progress=False,
    )  # fmt: skip
    with pytest.warns(SkippedFilesWarning, match=r"skipped 4 unreadable"):
        datamodule.prepare_data()
    datamodule.setup("fit")
    assert len(datamodule.train_set) == 40 and len(datamodule.train_set.skipped) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and nothing more is reported from the workers
        batches = list(datamodule.train_dataloader())
    images = torch.cat([images for images, _ in batches])
    assert images.shape == (40, 3, 32, 32) and torch.isfinite(images).all()
    assert 0 <= images.min() and images.max() <= 1


# --- Fuzzing ---------------------------------------------------------------------------------

SUFFIXES = [".png", ".jpg", ".gif", ".bmp", ".webp", ".tif"]
MAGIC = [
    b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBP",
    b"II*\x00", b"MM\x00*",
]  # fmt: skip


def small_image_bytes(fmt: str) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 255, (12, 9, 3), np.uint8)
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


VALID = {fmt: small_image_bytes(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")}


@st.composite
def hostile_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes behind a real magic number, or a valid small image with bytes flipped,
    cut short or appended."""
    if draw(st.booleans()):
        return draw(st.sampled_from(MAGIC)) + draw(st.binary(max_size=300))
    data = bytearray(draw(st.sampled_from(sorted(VALID.values()))))
    for _ in range(draw(st.integers(0, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.one_of(st.just(len(data)), st.integers(1, len(data))))
    return bytes(data[:cut]) + draw(st.binary(max_size=20))


def build_quietly(root: Path, cache: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFilesWarning)
        return build_dataset("folder", root=root, cache_dir=cache, image_size=16, progress=False)


def check_items(dataset, channels: int = 3) -> None:
    for index in range(len(dataset)):
        image, label = dataset[index]
        assert image.shape == (channels, 16, 16) and image.dtype == torch.float32
        assert torch.isfinite(image).all() and 0 <= image.min() and image.max() <= 1


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(files=st.lists(st.tuples(hostile_bytes(), st.sampled_from(SUFFIXES)), min_size=1,
                      max_size=4))  # fmt: skip
def test_random_bytes_are_kept_or_skipped_never_a_crash(files) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        root.mkdir()
        for i, (data, suffix) in enumerate(files):
            (root / name_in_split(f"f{i}", suffix)).write_bytes(data)
        try:
            dataset = build_quietly(root, Path(tmp) / "cache")
        except DataError as error:
            assert "no usable images" in str(error) and "\n" not in str(error)
            event("all skipped: DataError")
            return
        assert len(dataset) + len(dataset.skipped) == len(files)
        check_items(dataset)
        event("some kept" if len(dataset) else "none kept")


MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".gif": "GIF", ".bmp": "BMP", ".webp": "WEBP",
           ".tif": "TIFF"}  # fmt: skip


@st.composite
def small_images(draw: st.DrawFn) -> tuple[Image.Image, str]:
    mode = draw(st.sampled_from(MODES))
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if mode in ("I;16", "I"):  # numpy's uint16 gives I;16, int32 gives I
        dtype = np.uint16 if mode == "I;16" else np.int32
        image = Image.fromarray(rng.integers(0, 65536, (height, width)).astype(dtype))
    elif mode == "F":
        scale = draw(st.sampled_from([1, 255]))
        image = Image.fromarray(rng.random((height, width)).astype(np.float32) * scale)
    else:
        base = Image.fromarray(rng.integers(0, 256, (height, width, 4), np.uint8))
        image = base.convert(mode) if mode not in ("P", "PA") else base.convert("RGB").quantize(16)
        if mode == "PA":
            image = image.convert("PA")
    if draw(st.booleans()):  # an EXIF orientation tag, 1..8
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(1, 8))
        image.info["exif"] = exif.tobytes()
    return image, draw(st.sampled_from(sorted(FORMATS)))


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(image=small_images(), channels=st.sampled_from([1, 3]))
def test_every_small_image_pil_can_write_is_kept_and_in_range(image, channels) -> None:
    picture, suffix = image
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        root.mkdir()
        path = root / name_in_split("img", suffix)
        try:
            picture.save(path, format=FORMATS[suffix], exif=picture.info.get("exif", b""))
        except (OSError, ValueError, KeyError, TypeError):
            event("PIL cannot write it")
            return  # nothing to read back
        dataset = build_dataset("folder", root=root, cache_dir=Path(tmp) / "cache",
                                image_size=16, channels=channels, progress=False)  # fmt: skip
        assert dataset.skipped == [] and len(dataset) == 1
        check_items(dataset, channels)
        event(f"kept: {picture.mode} as {suffix}")
