"""The results store: every result ``analyse`` computes, kept on disk under the key of what
produced it, so that nothing is computed twice and nothing stale is shown.

A key is a JSON object: the kind of result, its format version, the fingerprints of the runs
it was computed from (``analysis.fingerprint``: model file and config, not the run's name) and
the settings it depends on. An entry is two files named by the key's sha256:

    <kind>/<digest>.safetensors   the result's tensors and arrays (absent when it has none)
    <kind>/<digest>.json          the key, then the result with its tensors replaced by names

Both are written atomically, the JSON last: an entry exists when its JSON does, and it is read
only when the key stored in it equals the key asked for. Nothing is pickled: a result is made of
JSON values, tensors, numpy arrays and the dataclasses listed in ``DATACLASSES``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfcvae.analysis.embedding import Embedding
from dfcvae.analysis.fingerprint import json_digest
from dfcvae.analysis.grids import Reconstruction
from dfcvae.errors import RunDirError
from dfcvae.files import read_tensors, write_json, write_tensors

FORMAT = 1
# The dataclasses a result may hold, by name: decoding never builds any other type.
DATACLASSES: dict[str, type] = {cls.__name__: cls for cls in (Reconstruction, Embedding)}


class Encoder:
    """A result as a JSON value plus the tensors it refers to by name."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}

    def tensor(self, value: torch.Tensor, tag: str) -> dict[str, str]:
        name = str(len(self.tensors))
        self.tensors[name] = value.detach().cpu().contiguous()
        return {tag: name}

    def encode(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return self.tensor(value, "__tensor__")
        if isinstance(value, np.ndarray):
            return self.tensor(torch.from_numpy(np.ascontiguousarray(value)), "__array__")
        if dataclasses.is_dataclass(value) and type(value).__name__ in DATACLASSES:
            fields = {
                f.name: self.encode(getattr(value, f.name)) for f in dataclasses.fields(value)
            }
            return {"__dataclass__": type(value).__name__, "fields": fields}
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise TypeError("results store: dict keys must be strings")
            return {"__dict__": {key: self.encode(item) for key, item in value.items()}}
        if isinstance(value, list | tuple):
            return [self.encode(item) for item in value]
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, str | int | float | bool):
            return value
        raise TypeError(f"results store: cannot store a {type(value).__name__}")


def decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of ``Encoder.encode`` (tuples come back as lists)."""
    if isinstance(value, list):
        return [decode(item, tensors) for item in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__array__" in value:
        return tensors[value["__array__"]].numpy()
    if "__dataclass__" in value:
        cls = DATACLASSES[value["__dataclass__"]]
        return cls(**{key: decode(item, tensors) for key, item in value["fields"].items()})
    return {key: decode(item, tensors) for key, item in value["__dict__"].items()}


class ResultsStore:
    """Results on disk under ``folder``, by key. ``get`` returns None for a result never stored
    under that key (or stored unreadably); ``put`` stores one, replacing an earlier one."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def paths(self, key: dict[str, Any]) -> tuple[Path, Path]:
        digest = json_digest({"format": FORMAT, **key})
        base = self.folder / str(key["kind"]) / digest
        return base.with_suffix(".json"), base.with_suffix(".safetensors")

    def get(self, key: dict[str, Any]) -> Any | None:
        json_path, tensor_path = self.paths(key)
        if not json_path.is_file():
            return None
        try:
            entry = json.loads(json_path.read_text())
            if entry.get("key") != json.loads(json.dumps(key, default=str)):
                return None
            tensors = read_tensors(tensor_path) if entry.get("tensors") else {}
            return decode(entry["result"], tensors)
        except (OSError, ValueError, KeyError, TypeError, RunDirError):
            return None  # unreadable: computed again and replaced

    def put(self, key: dict[str, Any], result: Any) -> None:
        json_path, tensor_path = self.paths(key)
        encoder = Encoder()
        encoded = encoder.encode(result)
        if encoder.tensors:
            write_tensors(tensor_path, encoder.tensors)
        entry = {"key": key, "tensors": bool(encoder.tensors), "result": encoded}
        write_json(json_path, json.loads(json.dumps(entry, default=str)))
