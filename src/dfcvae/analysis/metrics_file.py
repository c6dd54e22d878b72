"""``evaluate``'s result as a file (``metrics.json``): strict JSON (``json_ready``), read back
with the names of earlier versions brought up to date: ``blur_reconstructions``,
``blur_samples`` and the originals' ``blur`` held a sharpness score (the Laplacian variance) and
are now ``sharpness_*``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

RENAMED = {
    "blur_reconstructions": "sharpness_reconstructions",
    "blur_samples": "sharpness_samples",
    "blur": "sharpness",
}


def _renamed(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    return {RENAMED.get(key, key): value for key, value in entry.items()}


def upgrade_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with every earlier name replaced by today's (a new dict; today's names and
    unknown keys pass through unchanged)."""
    upgraded = dict(metrics)
    for section in ("runs", "per_image"):
        if isinstance(metrics.get(section), dict):
            upgraded[section] = {name: _renamed(v) for name, v in metrics[section].items()}
    for section in ("originals", "metrics"):
        if section in metrics:
            upgraded[section] = _renamed(metrics[section])
    if isinstance(metrics.get("t_tests"), list):
        upgraded["t_tests"] = [
            {**test, "metric": RENAMED.get(test.get("metric"), test.get("metric"))}
            if isinstance(test, dict)
            else test
            for test in metrics["t_tests"]
        ]
    return upgraded


def read_metrics(path: str | Path) -> dict[str, Any]:
    """A ``metrics.json`` written by ``dfcvae evaluate`` (today's or an earlier version).
    Raises ``json.JSONDecodeError`` when the file is not JSON."""
    return upgrade_metrics(json.loads(Path(path).read_text()))


def json_ready(value: Any) -> Any:
    """NaN and infinities become None, so the result is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return value
