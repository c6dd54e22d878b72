"""The training log a run keeps: ``RUN/logs/metrics.csv`` (Lightning's CSVLogger)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

METRICS_CSV = Path("logs") / "metrics.csv"


def read_loss_log(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every logged series as name -> [(step, value), ...] in file order, e.g.
    ``train/total_step``, ``train/kl_step``, ``val/total``; {} when the run has no log."""
    path = Path(run_dir) / METRICS_CSV
    if not path.is_file():
        return {}
    series: dict[str, list[tuple[int, float]]] = {}
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            try:
                step = int(float(row.get("step") or 0))
            except ValueError:
                continue
            for name, text in row.items():
                if name in ("epoch", "step") or not text:
                    continue
                try:
                    value = float(text)
                except ValueError:
                    continue
                if math.isfinite(value):
                    series.setdefault(name, []).append((step, value))
    return series
