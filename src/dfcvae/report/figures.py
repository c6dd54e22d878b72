"""Matplotlib figures of results computed elsewhere: loss curves, t-SNE, attribute correlation
and sharpness distributions. Each function takes numbers and returns a Figure; ``save_figure``
writes it as a PNG.

Matplotlib's object API (``Figure`` drawn by an Agg canvas), not pyplot: no backend is chosen
at import, so importing the report leaves a notebook's backend alone, and no figure is kept in
pyplot's list of open figures."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dfcvae.files import atomic_write

LOSS_TERMS = (("total", "total loss"), ("reconstruction", "reconstruction term"), ("kl", "KL"))


def save_figure(figure: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``figure`` as a PNG (atomically)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A Figure with its own Agg canvas, outside pyplot."""
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure


def loss_curves_figure(logs: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]]) -> Figure:
    """One panel per loss term (total, reconstruction, KL), one line per run.

    logs: run name -> series name (``train/kl_step``, ``val/kl``, ...) -> [(step, value)].
    Training values per step are lines; validation values per epoch are markers. The
    reconstruction terms of a PVAE (pixels) and a DFC-VAE (features) are in different units.
    """
    figure = new_figure((4.2 * len(LOSS_TERMS), 3.2))
    axes = figure.subplots(1, len(LOSS_TERMS))
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, (term, title) in zip(axes, LOSS_TERMS, strict=True):
        for index, (name, series) in enumerate(logs.items()):
            colour = colours[index % len(colours)]
            train = series.get(f"train/{term}_step") or series.get(f"train/{term}")
            if train:
                steps, values = zip(*train, strict=True)
                axis.plot(steps, values, color=colour, label=name, linewidth=1.2)
            valid = series.get(f"val/{term}")
            if valid:
                steps, values = zip(*valid, strict=True)
                axis.plot(steps, values, "o", color=colour, markersize=4, label=f"{name} (valid)")
        axis.set_title(title)
        axis.set_xlabel("step")
        if axis.has_data() and all(v > 0 for line in axis.get_lines() for v in line.get_ydata()):
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    return figure


def tsne_figure(
    points: np.ndarray,
    values: np.ndarray | None,
    value_names: Sequence[str],
    title: str = "t-SNE of latent codes",
) -> Figure:
    """points: (n, 2); values: (n,) colour indices into ``value_names`` (or None)."""
    figure = new_figure((5.2, 4.4))
    axis = figure.subplots()
    if values is None:
        axis.scatter(points[:, 0], points[:, 1], s=6, alpha=0.8)
    else:
        cmap = matplotlib.colormaps["tab10" if len(value_names) <= 10 else "tab20"]
        for index, name in enumerate(value_names):
            mask = values == index
            if mask.any():
                axis.scatter(
                    points[mask, 0],
                    points[mask, 1],
                    s=6,
                    alpha=0.8,
                    color=cmap(index % cmap.N),
                    label=name,
                )
        axis.legend(fontsize=6, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
    figure.tight_layout()
    return figure


def correlation_figure(names: Sequence[str], matrix: np.ndarray, title: str = "") -> Figure:
    """The (A, A) cosine similarities of attribute vectors as a heat map in [-1, 1]."""
    size = max(4.0, 0.22 * len(names) + 2.0)
    figure = new_figure((size + 1.0, size))
    axis = figure.subplots()
    image = axis.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    axis.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    axis.set_yticks(range(len(names)), names, fontsize=7)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="cosine similarity")
    axis.set_title(title or "attribute vector correlation")
    figure.tight_layout()
    return figure


def sharpness_figure(sharpness: Mapping[str, Sequence[float]]) -> Figure:
    """Distributions of the Laplacian variance (sharpness) per image set, e.g. ``originals``,
    each run's reconstructions and samples, as box plots on a log scale."""
    names = list(sharpness)
    figure = new_figure((max(5.0, 1.1 * len(names) + 1.5), 3.6))
    axis = figure.subplots()
    data = [np.clip(np.asarray(sharpness[name], dtype=float), 1e-12, None) for name in names]
    axis.boxplot(data, showfliers=False)
    axis.set_xticks(range(1, len(names) + 1), names, rotation=20, ha="right", fontsize=8)
    axis.set_yscale("log")
    axis.set_ylabel("Laplacian variance (higher = sharper)")
    axis.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    return figure
