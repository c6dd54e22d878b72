"""The report's samples section: each run's samples from both samplers side by side, with each
sampler's sharpness, Fréchet distances and precision/recall from ``evaluate``."""

from __future__ import annotations

from html import escape
from typing import Any

from dfcvae.report.markup import ReportData, cells, html_table, img, missing, side_grid

# Sampler -> (report kind of its grid, what it draws from).
SAMPLER_GRIDS = {
    "standard": ("samples", "z ~ N(0, T²I), the paper's prior"),
    "fitted": ("samples_fitted", "the Gaussian mixture fitted to the train split's mu"),
}
CAPTION = (
    "Each run's samples from both samplers at the same temperature: the standard prior (same z "
    "for every run, Fig. 3) and the density fitted to that run's own train codes (a Gaussian "
    "mixture of its train split's mu). Precision: the fraction of samples inside the test "
    "images' k-NN manifold (realism); recall: the fraction of test images inside the samples' "
    "manifold (variety); Kynkäänniemi et al. (2019), k = 3, in the Fréchet distance's feature "
    "space. Compare runs within one sampler."
)


def samples_section(data: ReportData) -> str:
    """Grids (one row per sampler, one column per run), then the table of numbers."""
    rows = []
    for sampler, (kind, source) in SAMPLER_GRIDS.items():
        columns = []
        for name in data.names:
            path = data.images.get(name, {}).get(kind)
            content = img(path, "grid", f"{sampler} samples of {name}") if path else None
            columns.append(
                f"<div><h3>{escape(name)}: {sampler}</h3>"
                f"{content or missing(data, name, kind)}</div>"
            )
        caption = f"<p class='caption'><b>{sampler}</b>: {escape(source)}</p>"
        rows.append(caption + side_grid(columns))
    intro = f"<h2>Samples</h2><p class='caption'>{escape(CAPTION)}</p>"
    return intro + "".join(rows) + sampler_table(data)


def sampler_table(data: ReportData) -> str:
    """One row per (sampler, number); one column per run; the best run of each row in bold."""
    metrics = data.metrics or {}
    runs = metrics.get("runs", {})
    entries = [runs.get(name, {}).get("samplers", {}) for name in data.names]
    if not any(entries):
        return ""
    spaces = list(metrics.get("feature_spaces", {}))
    rows = []
    for sampler in metrics.get("samplers", SAMPLER_GRIDS):
        per_run = [entry.get(sampler, {}) for entry in entries]
        sharpness = [e.get("sharpness", {}).get("mean") for e in per_run]
        rows.append(row(f"{sampler}: sharpness ↑", sharpness, "higher"))
        for space in spaces:
            scores = [e.get("feature_spaces", {}).get(space, {}) for e in per_run]
            for key, label, better in (
                ("frechet", "Fréchet distance ↓", "lower"),
                ("precision", "precision ↑", "higher"),
                ("recall", "recall ↑", "higher"),
            ):
                values = [s.get(key) for s in scores]
                rows.append(row(f"{sampler}: {label} ({space})", values, better))
    default = metrics.get("default_sampler")
    note = f" Default sampler: <b>{escape(default)}</b>." if default else ""
    head = "<th>sampler: metric</th>" + "".join(f"<th>{escape(n)}</th>" for n in data.names)
    return html_table(head, rows) + (
        f"<p class='caption'>{metrics.get('n', '')} samples per run and sampler.{note}</p>"
    )


def row(label: str, values: list[Any], better: str) -> str:
    return f"<tr><td>{escape(label)}</td>{''.join(cells(values, better))}</tr>"
