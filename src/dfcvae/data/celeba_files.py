"""CelebA's attribute and partition files, as the CelebA site (and torchvision) ships them or as
the Kaggle archive does; each file's format is told by its suffix.

``.txt`` (torchvision's layout, the CelebA site's files)::

    list_attr_celeba.txt     line 1: the image count; line 2: the 40 attribute names;
                             then "000001.jpg  -1  1 ..." (fields separated by spaces)
    list_eval_partition.txt  "000001.jpg 0" (0 train, 1 valid, 2 test)

``.csv`` (the Kaggle "CelebFaces Attributes" archive)::

    list_attr_celeba.csv     header "image_id,5_o_Clock_Shadow,...", then "000001.jpg,-1,1,..."
    list_eval_partition.csv  header "image_id,partition", then "000001.jpg,0"

Both are held to the same checks: the 40 attribute names in CelebA's order, 41 fields a row,
values 1 or -1, no image listed twice, the image count (the .txt file's first line, and the
partition file's count against the attribute file's), and a row of attributes for every image
of the partition file. A wrong or garbled file is a one-line DataError naming the file and the
line. numpy's C reader parses the 202,599 rows of values; the line-by-line checker only runs to
name the line when that reader or a check fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

ATTRIBUTE_NAMES = tuple(
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes "
    "No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling "
    "Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace "
    "Wearing_Necktie Young".split()
)
ATTRIBUTE_STEM = "list_attr_celeba"
PARTITION_STEM = "list_eval_partition"
SUFFIXES = (".txt", ".csv")  # looked for in this order
PARTITIONS = {"train": 0, "valid": 1, "test": 2}


@dataclass(frozen=True)
class Attributes:
    """An attribute file: ``names`` (the 40 attributes), ``images`` (file name of each row) and
    ``values``: (N, 40) uint8, 1 where the file says 1 and 0 where it says -1."""

    names: list[str]
    images: list[str]
    values: np.ndarray


def find_file(base: Path, stem: str) -> Path | None:
    """``base/stem.txt`` or else ``base/stem.csv``, whichever exists first; None if neither."""
    for suffix in SUFFIXES:
        if (base / f"{stem}{suffix}").is_file():
            return base / f"{stem}{suffix}"
    return None


def split_labels(
    attributes_file: Path, partition_file: Path, split: str
) -> tuple[list[str], list[str], np.ndarray]:
    """The images of ``split`` in partition-file order, the attribute names and their
    (N, 40) uint8 {0, 1} rows."""
    pairs = read_partition(partition_file)
    table = read_attributes(attributes_file)
    if len(pairs) != len(table.images):
        raise DataError(
            f"{partition_file.name} lists {len(pairs)} images but {attributes_file.name} lists "
            f"{len(table.images)}: one of them is truncated; use the two files of one release"
        )
    names = [name for name, part in pairs if part == PARTITIONS[split]]
    if not names:
        raise DataError(f"{partition_file} lists no images for the {split} split")
    row_of = {name: row for row, name in enumerate(table.images)}
    rows = [row_of.get(name, -1) for name in names]
    missing = [name for name, row in zip(names, rows) if row < 0]
    if missing:
        raise DataError(
            f"{attributes_file} has no row for {missing[0]} ({len(missing)} image(s) of "
            f"{partition_file.name} missing); use the attribute and partition files of one release"
        )
    return names, table.names, table.values[rows]


def read_partition(path: Path) -> list[tuple[str, int]]:
    """``(file name, partition)`` pairs of a partition file (.txt or .csv), partition 0/1/2."""
    csv = path.suffix == ".csv"
    lines = _lines(path)
    if csv:
        number, header = lines[0] if lines else (1, "")
        if [field.strip() for field in header.split(",")] != ["image_id", "partition"]:
            raise DataError(f"{path.name} line {number}: expected the header 'image_id,partition'")
        lines = lines[1:]
    pairs = []
    seen: set[str] = set()
    for number, line in lines:
        fields = [field.strip() for field in line.split(",")] if csv else line.split()
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            expected = "<file>,0|1|2" if csv else "<file> 0|1|2"
            raise DataError(
                f"{path.name} line {number}: expected '{expected}', got {line.strip()[:60]!r}"
            )
        if fields[0] in seen:
            raise DataError(f"{path.name} line {number}: {fields[0]} is listed twice")
        seen.add(fields[0])
        pairs.append((fields[0], int(fields[1])))
    return pairs


def read_attributes(path: Path) -> Attributes:
    """An attribute file (.txt or .csv), checked; see the module docstring."""
    csv = path.suffix == ".csv"
    lines = _lines(path)
    header = 1 if csv else 2
    if len(lines) < header:
        raise DataError(f"{path.name}: empty or cut short; fetch it again")
    if not csv and not lines[0][1].strip().isdigit():
        raise DataError(f"{path.name} line 1: expected the image count, then a line of names")
    number, names_line = lines[header - 1]
    names = [name.strip() for name in names_line.split(",")][1:] if csv else names_line.split()
    if csv and names_line.split(",")[0].strip() != "image_id":
        raise DataError(f"{path.name} line {number}: expected the header 'image_id,<40 names>'")
    _check_names(names, path, number)
    body = lines[header:]
    values = _parse_values([line for _, line in body], "," if csv else None)
    if values is None:
        _find_bad_line(body, path, csv)
        raise DataError(f"{path.name}: cannot be parsed; fetch it again")  # not reached
    images = [line.split("," if csv else None, 1)[0].strip() for _, line in body]
    if len(set(images)) != len(images):
        _find_bad_line(body, path, csv)
    if not csv and int(lines[0][1]) != len(images):
        raise DataError(
            f"{path.name} line 1: says {int(lines[0][1])} images but the file lists "
            f"{len(images)}; it is truncated or edited, fetch it again"
        )
    return Attributes(names, images, (values > 0).astype(np.uint8))


def _parse_values(lines: list[str], separator: str | None) -> np.ndarray | None:
    """(N, 40) int8 values of the rows, or None when a row is not 41 fields of 1 / -1."""
    if not lines:
        return np.zeros((0, len(ATTRIBUTE_NAMES)), np.int8)
    try:
        table = np.loadtxt(
            lines,
            dtype=np.int8,
            delimiter=separator,
            comments=None,
            ndmin=2,
            converters={0: lambda _: 0},
        )
    except ValueError:
        return None
    values = table[:, 1:]
    if values.shape[1] != len(ATTRIBUTE_NAMES) or not (np.abs(values) == 1).all():
        return None
    return values


def _find_bad_line(body: list[tuple[int, str]], path: Path, csv: bool) -> None:
    """Raise a DataError for the first row that is not ``<file>`` and 40 values of 1 / -1, or
    that repeats an image."""
    width = len(ATTRIBUTE_NAMES) + 1
    seen: set[str] = set()
    for number, line in body:
        fields = [field.strip() for field in line.split(",")] if csv else line.split()
        if len(fields) != width:
            raise DataError(
                f"{path.name} line {number}: expected {width} fields, got {len(fields)}"
            )
        if any(value not in ("1", "-1") for value in fields[1:]):
            raise DataError(f"{path.name} line {number}: attribute values must be 1 or -1")
        if fields[0] in seen:
            raise DataError(f"{path.name} line {number}: {fields[0]} is listed twice")
        seen.add(fields[0])


def _check_names(names: list[str], path: Path, number: int) -> None:
    if tuple(names) == ATTRIBUTE_NAMES:
        return
    if len(names) != len(ATTRIBUTE_NAMES):
        found = f"found {len(names)} names"
    else:
        k = next(k for k, (a, b) in enumerate(zip(names, ATTRIBUTE_NAMES)) if a != b)
        found = f"name {k + 1} is {names[k]!r}, expected {ATTRIBUTE_NAMES[k]!r}"
    raise DataError(
        f"{path.name} line {number}: expected CelebA's 40 attribute names "
        f"({ATTRIBUTE_NAMES[0]} ... {ATTRIBUTE_NAMES[-1]}); {found}"
    )


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers (a leading byte-order mark is dropped)."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from None
    return [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
