"""Building blocks of the HTML report: what the page shows (``ReportData``) and small helpers
that format numbers, tables and embedded images. Nothing here computes a metric."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from dfcvae.vae.run_config import RunConfig


@dataclass
class ReportData:
    """Everything the page shows. images: run name -> kind -> PNG path; figures: page-wide
    PNGs (``loss_curves``, ``sharpness``); logs: run name -> its training log's series;
    predictions: run name -> rows of the predictions CSV;
    problems: run name (or ``""``) -> kind -> why that result is missing."""

    title: str
    names: list[str]
    run_dirs: list[Path]
    configs: dict[str, RunConfig]
    images: dict[str, dict[str, Path]] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    logs: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)
    predictions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: dict[str, dict[str, str]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def img(path: Path, css: str, alt: str) -> str:
    return f'<img class="{css}" src="{data_uri(path)}" alt="{escape(alt)}">'


def fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def describe_run(config: RunConfig) -> str:
    """'PVAE (pixel loss, sse)' or 'DFC-VAE: mobilenet_v2 block1, block3, block6'."""
    loss = config.loss
    if loss.reconstruction == "pixel":
        return f"PVAE (pixel loss, {loss.pixel})"
    if loss.reconstruction == "ssim-colour":
        return "VAE with SSIM + colour loss"
    kind = "DFC-VAE" if loss.reconstruction == "feature" else "DFC-VAE + pixel loss"
    return f"{kind}: {loss.loss_network} {', '.join(loss.layers)}"


def best_indices(values: list[float | None], better: str) -> set[int]:
    """Where the best value is; none when fewer than two values differ, or when neither higher
    nor lower is better (the KL per image)."""
    present = [v for v in values if v is not None]
    if len(set(present)) < 2 or better not in ("higher", "lower"):
        return set()
    best = max(present) if better == "higher" else min(present)
    return {i for i, v in enumerate(values) if v == best}


def cells(values: list[float | None], better: str, digits: int = 4) -> list[str]:
    best = best_indices(values, better)
    return [
        f'<td class="best">{fmt(v, digits)}</td>' if i in best else f"<td>{fmt(v, digits)}</td>"
        for i, v in enumerate(values)
    ]


def reason(data: ReportData, name: str, kind: str) -> str:
    return data.problems.get(name, {}).get(kind, "not computed")


def missing(data: ReportData, name: str, kind: str) -> str:
    return f'<p class="missing">{escape(reason(data, name, kind))}</p>'


def html_table(head: str, rows: list[str]) -> str:
    """head: the header cells; rows: whole <tr> elements."""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def side_grid(columns: list[str]) -> str:
    """One column per run, side by side."""
    return f'<div class="side" style="--runs: {len(columns)}">{"".join(columns)}</div>'
