"""The sections of the HTML report, each a function of ``ReportData`` returning HTML."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from dfcvae.report.findings import LEVEL, SIGNIFICANCE, correction_note, findings
from dfcvae.report.markup import (
    ReportData,
    cells,
    describe_run,
    fmt,
    html_table,
    img,
    missing,
    reason,
    side_grid,
)
from dfcvae.report.samples import samples_section

# Sections of run images, in page order: (kind, title, caption).
IMAGE_SECTIONS = (
    (
        "reconstruction",
        "Reconstructions",
        "Test images (odd rows) and their reconstructions "
        "decoded from mu (even rows), the same images for every run (Fig. 4).",
    ),
    ("samples", "Samples", "Decoded from z ~ N(0, T²I) with the same z for every run (Fig. 3)."),
    (
        "interpolation",
        "Interpolations",
        "Each row decodes (1 − α)·z_left + α·z_right from α = 0 to 1 (Fig. 5).",
    ),
    (
        "edit",
        "Attribute editing",
        "First column: the input; then mu + s·(attribute vector) "
        'for each strength s, as in "adding a smile".',
    ),
    ("tsne", "t-SNE of latent codes", "mu of test images embedded in 2-D."),
    (
        "correlation",
        "Attribute-vector correlation",
        "Cosine similarity of the attribute vectors, as in the paper's correlation figure.",
    ),
)


def mean_accuracy(rows: list[dict[str, Any]] | None) -> tuple[float | None, float | None]:
    """The mean one-vs-rest SVM accuracy and the mean of its majority baselines."""
    for row in rows or []:
        if row["kind"] == "mean":
            return row["accuracy"], row.get("majority_baseline")
    return None, None


def with_baselines(column: list[str], baselines: list[float | None]) -> list[str]:
    """Accuracy cells with their majority-class baseline beside each value."""
    return [
        cell
        if baseline is None
        else cell.replace("</td>", f" <small>(majority {fmt(baseline)})</small></td>")
        for cell, baseline in zip(column, baselines, strict=True)
    ]


def glance_section(data: ReportData) -> str:
    """The summary table: one row per run, the best value of each column highlighted."""
    metrics = data.metrics or {"runs": {}}
    runs = metrics["runs"]
    columns: list[tuple[str, str, list[float | None]]] = []
    for key, label, better in (
        ("mse", "MSE ↓", "lower"),
        ("psnr", "PSNR dB ↑", "higher"),
        ("ssim", "SSIM ↑", "higher"),
        ("lpips", "LPIPS ↓", "lower"),
        ("sharpness_reconstructions", "sharpness of reconstructions ↑", "higher"),
        ("sharpness_samples", "sharpness of samples ↑", "higher"),
    ):
        values = [runs.get(name, {}).get(key, {}).get("mean") for name in data.names]
        if any(v is not None for v in values):
            columns.append((label, better, values))
    for space in metrics.get("feature_spaces", {}):
        values = [
            runs.get(n, {}).get("frechet", {}).get(space, {}).get("samples") for n in data.names
        ]
        columns.append((f"Fréchet distance of samples ({space}) ↓", "lower", values))
    accuracies, baselines = zip(
        *(mean_accuracy(data.predictions.get(name)) for name in data.names), strict=True
    )
    if any(a is not None for a in accuracies):
        columns.append(("SVM mean accuracy ↑ (majority baseline)", "higher", list(accuracies)))
    head = "".join(f"<th>{escape(label)}</th>" for label, _, _ in columns)
    body = []
    column_cells = [cells(values, better) for _, better, values in columns]
    if any(a is not None for a in accuracies):
        column_cells[-1] = with_baselines(column_cells[-1], list(baselines))
    for row, name in enumerate(data.names):
        described = escape(describe_run(data.configs[name]))
        row_cells = "".join(column[row] for column in column_cells)
        body.append(
            f"<tr><td><b>{escape(name)}</b><br><small>{described}</small></td>{row_cells}</tr>"
        )
    notes = []
    if data.metrics:
        originals = data.metrics["originals"]["sharpness"]["mean"]
        notes.append(
            f"Sharpness is the variance of the Laplacian (higher = sharper); the original test "
            f"images score {fmt(originals)}. {data.metrics['n']} {data.metrics['split']} images, "
            f"the same for every run."
        )
    else:
        notes.append("No metrics: " + escape(data.problems.get("", {}).get("metrics", "")))
    return (
        "<h2>At a glance</h2>"
        f"<table><thead><tr><th>run</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + "".join(f'<p class="caption">{note}</p>' for note in notes)
        + findings(data)
    )


def side_by_side(data: ReportData, kind: str, css: str = "grid") -> str:
    columns = []
    for name in data.names:
        path = data.images.get(name, {}).get(kind)
        content = img(path, css, f"{kind} of {name}") if path else missing(data, name, kind)
        columns.append(f"<div><h3>{escape(name)}</h3>{content}</div>")
    return side_grid(columns)


def image_sections(data: ReportData) -> str:
    parts = []
    for kind, title, caption in IMAGE_SECTIONS:
        if kind == "samples":
            parts.append(samples_section(data))
            continue
        css = "figure" if kind in ("tsne", "correlation") else "grid"
        extra = ""
        if kind == "edit" and data.settings.get("edit_attribute"):
            extra = f" Attribute: <b>{escape(str(data.settings['edit_attribute']))}</b>."
        parts.append(
            f"<h2>{title}</h2><p class='caption'>{escape(caption)}{extra}</p>"
            + side_by_side(data, kind, css)
        )
    return "".join(parts)


def metrics_section(data: ReportData) -> str:
    """Every metric per run, the Fréchet distances, the per-image sharpness figure, the
    t-tests, and what was unavailable and why."""
    if not data.metrics:
        return ""
    table = html_table(
        "<th>metric (mean ± sd)</th>" + "".join(f"<th>{escape(n)}</th>" for n in data.names),
        metric_rows(data) + active_units_rows(data) + frechet_rows(data),
    )
    spaces = data.metrics.get("feature_spaces", {})
    weights = "; ".join(
        f"{escape(space)}: {escape(info.get('weights', ''))}" for space, info in spaces.items()
    )
    if weights:
        table += f"<p class='caption'>Feature-space weights: {weights}.</p>"
    sharpness = data.figures.get("sharpness")
    sharpness_html = (
        "<h3>Sharpness per image</h3>"
        + img(sharpness, "figure", "Laplacian variance distributions")
        if sharpness
        else ""
    )
    return f"<h2>Metrics</h2>{table}{sharpness_html}{t_tests_table(data)}{unavailable_notes(data)}"


def metric_rows(data: ReportData) -> list[str]:
    """One row per per-image metric: the mean of each run (the best highlighted) ± its sd."""
    runs = data.metrics["runs"]
    rows = []
    for key, info in data.metrics.get("metrics", {}).items():
        if not any(key in runs.get(name, {}) for name in data.names):
            continue
        values = [runs.get(name, {}).get(key, {}) for name in data.names]
        cell_html = [
            c.replace("</td>", f" <small>± {fmt(v.get('std'), 2)}</small></td>")
            for c, v in zip(
                cells([v.get("mean") for v in values], info["better"]), values, strict=True
            )
        ]
        better = f" ({info['better']} is better)" if info["better"] in ("higher", "lower") else ""
        rows.append(f"<tr><td>{escape(info['description'])}{better}</td>{''.join(cell_html)}</tr>")
    return rows


def active_units_rows(data: ReportData) -> list[str]:
    runs = data.metrics["runs"]
    if not any("active_units" in runs.get(name, {}) for name in data.names):
        return []
    active = [runs.get(name, {}).get("active_units") for name in data.names]
    dims = [runs.get(name, {}).get("latent_dim") for name in data.names]
    return [
        f"<tr><td>active latent units: Cov<sub>x</sub>(E[z|x]) &gt; "
        f"{data.metrics.get('active_threshold', 0.01)} (0 means KL collapse)</td>"
        + "".join(
            f"<td>{fmt(a, 4)} <small>of {fmt(d, 4)}</small></td>"
            for a, d in zip(active, dims, strict=True)
        )
        + "</tr>"
    ]


def frechet_rows(data: ReportData) -> list[str]:
    runs = data.metrics["runs"]
    rows = []
    for space, info in data.metrics.get("feature_spaces", {}).items():
        for target in ("samples", "reconstructions"):
            values = [
                runs.get(n, {}).get("frechet", {}).get(space, {}).get(target) for n in data.names
            ]
            rows.append(
                f"<tr><td>Fréchet distance, {target} vs test images, in "
                f"{escape(info['description'])} (lower is better)</td>"
                f"{''.join(cells(values, 'lower'))}</tr>"
            )
    return rows


def t_tests_table(data: ReportData) -> str:
    tests = []
    for test in data.metrics["t_tests"]:
        adjusted = test.get("p_holm")
        significant = adjusted is not None and adjusted < SIGNIFICANCE
        css = ' class="significant"' if significant else ""
        tests.append(
            f"<tr{css}><td>{escape(test['metric'])}</td><td>{escape(test['a'])}</td>"
            f"<td>{escape(test['b'])}</td><td>{escape(test['test'])}</td>"
            f"<td>{fmt(test['t'], 4)}</td><td>{fmt(test['p'], 3)}</td><td>{fmt(adjusted, 3)}</td>"
            f"<td>{fmt(test['mean_difference'], 4)}</td><td>{test['n']}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("metric", "a", "b", "test", "t", "p", "Holm-adjusted p", "mean difference", "n")
    )
    return (
        "<h3>t-tests (a − b)</h3><p class='caption'>Paired tests (scipy.stats.ttest_rel) on the "
        "same test images; samples share no images, so theirs are Welch tests. Bold: "
        f"{LEVEL}.</p>{correction_note(data)}" + html_table(head, tests)
    )


def unavailable_notes(data: ReportData) -> str:
    unavailable = "".join(
        f"<li><b>{escape(name)}</b>: {escape(why)}</li>"
        for name, why in data.metrics.get("unavailable", {}).items()
    )
    notes = "".join(f"<li>{escape(note)}</li>" for note in data.metrics.get("notes", []))
    extra = ""
    if unavailable:
        extra += f"<h3>Unavailable metrics</h3><ul>{unavailable}</ul>"
    if notes:
        extra += f"<h3>Notes</h3><ul>{notes}</ul>"
    return extra


def predictions_section(data: ReportData) -> str:
    if not data.predictions:
        reasons = "".join(
            f"<li>{escape(name)}: {escape(reason(data, name, 'predictions'))}</li>"
            for name in data.names
        )
        return f"<h2>Attribute prediction</h2><ul class='missing'>{reasons}</ul>"
    order: list[str] = []
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for name in data.names:
        for row in data.predictions.get(name, []):
            key = row["attribute"]
            if key not in table:
                order.append(key)
                table[key] = {}
            table[key][name] = row
    head = "".join(f"<th>{escape(name)}</th>" for name in data.names)
    body = []
    for key in order:
        entries = table[key]
        first = next(iter(entries.values()))
        baseline = first.get("majority_baseline")
        accuracies = [entries.get(name, {}).get("accuracy") for name in data.names]
        if first["kind"] == "reference":
            accuracies_html = (
                f"<td colspan='{len(data.names)}'>{fmt(first['accuracy'] * 100, 4)}% (paper)</td>"
            )
        else:
            accuracies_html = "".join(
                cells([None if a is None else 100 * a for a in accuracies], "higher")
            )
        style = ' style="border-top: 2px solid #c7c7cc"' if first["kind"] != "attribute" else ""
        body.append(
            f"<tr{style}><td>{escape(key)}</td>"
            f"<td>{baseline_cell(first['kind'], baseline)}</td>"
            f"{accuracies_html}</tr>"
        )
    return (
        "<h2>Attribute prediction</h2><p class='caption'>Test accuracy (%) of a linear SVM per "
        "attribute on mu (C chosen on the valid split), beside the majority-class baseline, so "
        "learning shows apart from class imbalance. The paper reports 86.95% mean on CelebA.</p>"
        f"<table><thead><tr><th>attribute</th><th>majority baseline</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def baseline_cell(kind: str, baseline: float | None) -> str:
    if baseline is not None:
        return fmt(100 * baseline)
    return "not given by the paper" if kind == "reference" else "n/a"


def loss_section(data: ReportData) -> str:
    path = data.figures.get("loss_curves")
    content = img(path, "figure", "loss curves") if path else missing(data, "", "loss_curves")
    return (
        "<h2>Training</h2><p class='caption'>From each run's logs/metrics.csv. The reconstruction "
        "terms differ in kind (pixels for a PVAE, features for a DFC-VAE): compare their shapes, "
        f"not their values.</p>{content}"
    )


def configs_section(data: ReportData) -> str:
    columns = []
    for name, run_dir in zip(data.names, data.run_dirs, strict=True):
        text = json.dumps(data.configs[name].to_dict(), indent=2)
        columns.append(
            f"<div><h3>{escape(name)}</h3><p class='caption'>{escape(str(run_dir))}</p>"
            f"<details><summary>config.json</summary><pre>{escape(text)}</pre></details></div>"
        )
    return "<h2>Configs</h2>" + side_grid(columns)
