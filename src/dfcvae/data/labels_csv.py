"""The optional labels file of the folder dataset (CSV, paths relative to the folder).

Each row names one image by its path relative to the folder (``cat/001.jpg``). The first line
is a header when its first cell is not an image file name (no image suffix such as ``.jpg``),
whatever it says (``path``, ``filename``, ``image_id``...). Two kinds, told apart by the header:

- classes: ``path,label`` rows, where label is a class name; an optional header whose second
  column is ``label`` or ``class`` (``filename,label``). Class indices follow the sorted class
  names (numerically when all names are integers).
- attributes: a header ``path,attr1,attr2,...`` and 0/1 or -1/1 values; -1 and 0 both mean
  "absent". A header ``path,smiling`` with one attribute is attributes too; only ``label`` and
  ``class`` as the single column name mean classes.

The folder dataset uses the images that are both on disk and listed: images without a row, and
rows naming files that are not in the folder, are left out with a warning that counts them and
names a few (``folder.py``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from .errors import DataError
from .images import IMAGE_SUFFIXES

_CLASS_COLUMNS = ("label", "class")


@dataclass(frozen=True)
class FolderLabels:
    """Labels by relative posix path: class index (int) or uint8 ``(A,)`` {0, 1} attributes."""

    kind: str
    names: list[str]
    rows: dict[str, int | np.ndarray]


def read_labels_file(path: Path) -> FolderLabels:
    """Parse a labels CSV; any malformed line is a DataError naming the file and line."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            lines = [(n, [c.strip() for c in row]) for n, row in enumerate(csv.reader(handle), 1)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"cannot read labels file {path}: {err}") from None
    lines = [(number, row) for number, row in lines if any(row)]
    if not lines:
        raise DataError(f"labels file {path} is empty; expected 'path,label' rows")
    header = lines[0][1] if not is_image_name(lines[0][1][0]) else None
    body = lines[1:] if header else lines
    if header is not None and (len(header) > 2 or header[1].lower() not in _CLASS_COLUMNS):
        return _attributes(path, header[1:], body)
    if header is None and len(lines[0][1]) > 2:
        raise DataError(
            f"{path.name} line {lines[0][0]}: several label columns need a header line "
            "'path,attr1,attr2,...'"
        )
    return _classes(path, body)


def is_image_name(cell: str) -> bool:
    """Whether a CSV cell names an image file (by its suffix), as every data row must."""
    return PurePosixPath(cell.replace("\\", "/")).suffix.lower() in IMAGE_SUFFIXES


def _classes(path: Path, body: list[tuple[int, list[str]]]) -> FolderLabels:
    labels: dict[str, str] = {}
    for number, row in body:
        if len(row) != 2 or not row[1]:
            got = ",".join(row)[:60]
            raise DataError(f"{path.name} line {number}: expected 'path,label', got {got!r}")
        _add(labels, path, number, row[0], row[1])
    names = sorted(set(labels.values()))
    if all(name.lstrip("-").isdigit() for name in names):
        names.sort(key=int)
    index = {name: i for i, name in enumerate(names)}
    return FolderLabels("class", names, {key: index[name] for key, name in labels.items()})


def _attributes(path: Path, names: list[str], body: list[tuple[int, list[str]]]) -> FolderLabels:
    rows: dict[str, np.ndarray] = {}
    for number, row in body:
        if len(row) != len(names) + 1:
            raise DataError(
                f"{path.name} line {number}: expected {len(names) + 1} fields, got {len(row)}"
            )
        if any(value not in ("0", "1", "-1") for value in row[1:]):
            raise DataError(f"{path.name} line {number}: attribute values must be 0/1 or -1/1")
        values = np.array([value == "1" for value in row[1:]], dtype=np.uint8)
        _add(rows, path, number, row[0], values)
    return FolderLabels("attributes", names, rows)


def _add(table: dict, path: Path, number: int, file: str, value: object) -> None:
    key = normalise(file)
    if not is_image_name(key):
        suffixes = ", ".join(sorted(suffix[1:] for suffix in IMAGE_SUFFIXES))
        raise DataError(
            f"{path.name} line {number}: {file!r} is not an image file name ({suffixes}); "
            "only the first line may be a header"
        )
    if key.startswith("/") or ".." in key.split("/"):
        raise DataError(f"{path.name} line {number}: {file} must be relative to the image folder")
    if key in table:
        raise DataError(f"{path.name} line {number}: {file} is listed twice")
    table[key] = value


def normalise(relative: str) -> str:
    """The posix form of a path relative to the folder (``./a\\b.png`` -> ``a/b.png``)."""
    return PurePosixPath(relative.replace("\\", "/")).as_posix().removeprefix("./")
