"""Tables of results: the attribute-prediction CSV (written and read back) and text tables.

The CSV's rows are ``dfcvae.analysis.predict.prediction_rows``."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dfcvae.files import write_text

PREDICTION_COLUMNS = ("kind", "attribute", "accuracy", "majority_baseline", "C", "valid_accuracy")


def write_predictions_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """``prediction_rows`` as a CSV file (blanks for None)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=PREDICTION_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in PREDICTION_COLUMNS})
    return write_text(path, buffer.getvalue())


def write_matrix_csv(path: str | Path, names: Sequence[str], matrix: Any) -> Path:
    """A square matrix with its row and column names (e.g. attribute-vector correlations)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["attribute", *names])
    for name, row in zip(names, matrix, strict=True):
        writer.writerow([name, *(f"{float(v):.6f}" for v in row)])
    return write_text(path, buffer.getvalue())


def read_predictions_csv(path: str | Path) -> list[dict[str, Any]]:
    """The rows of ``write_predictions_csv``, numbers as floats and blanks as None."""
    with Path(path).open(newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        for key in ("accuracy", "majority_baseline", "C", "valid_accuracy"):
            text = row.get(key)
            row[key] = float(text) if text not in (None, "") else None
    return rows


def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def format_predictions(rows: Sequence[dict[str, Any]]) -> str:
    """A text table: attribute, test accuracy, majority-class baseline."""
    width = max([len("attribute"), *(len(str(row["attribute"])) for row in rows)])
    lines = [f"{'attribute':<{width}}  {'accuracy':>9}  {'majority':>9}"]
    for row in rows:
        if row["kind"] != "attribute" and lines[-1][0] != "-":
            lines.append("-" * (width + 22))
        lines.append(
            f"{row['attribute']:<{width}}  {percent(row['accuracy']):>9}  "
            f"{percent(row.get('majority_baseline')) or 'n/a':>9}"
        )
    return "\n".join(lines)


def format_number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}g}"


def sampler_lines(metrics: dict[str, Any]) -> list[str]:
    """Per run and sampler: the samples' sharpness, then Fréchet distance, precision and recall
    in each feature space."""
    default = metrics.get("default_sampler")
    lines = [f"samples per sampler (default {default}):"] if default else []
    for name, result in metrics["runs"].items():
        for sampler, scores in result.get("samplers", {}).items():
            spaces = "".join(
                f"; {space}: FD {format_number(s['frechet'])}, precision "
                f"{format_number(s['precision'], 3)}, recall {format_number(s['recall'], 3)}"
                for space, s in scores["feature_spaces"].items()
            )
            sharpness = format_number(scores["sharpness"]["mean"])
            lines.append(f"  {name} {sampler}: sharpness {sharpness}{spaces}")
    return lines


def format_metrics(metrics: dict[str, Any]) -> str:
    """A text summary of ``evaluate``'s result: one line per run, then t-tests, then what was
    unavailable and why."""
    runs = metrics["runs"]
    columns = [
        "mse",
        "psnr",
        "ssim",
        "lpips",
        "sharpness_reconstructions",
        "sharpness_samples",
        "kl",
    ]
    columns = [c for c in columns if any(c in r for r in runs.values())]
    active = any("active_units" in r for r in runs.values())
    spaces = list(metrics.get("feature_spaces", {}))
    width = max(len("run"), *(len(name) for name in runs))
    header = f"{'run':<{width}}  " + "  ".join(f"{c:>12}" for c in columns)
    header += f"  {'active units':>12}" if active else ""
    header += "".join(f"  {'FD ' + s:>16}" for s in spaces)
    lines = [header]
    originals = metrics["originals"]["sharpness"]["mean"]
    for name, result in runs.items():
        line = f"{name:<{width}}  " + "  ".join(
            f"{format_number(result[c]['mean']) if c in result else 'n/a':>12}" for c in columns
        )
        if active:
            units = f"{result.get('active_units', 'n/a')}/{result.get('latent_dim', 'n/a')}"
            line += f"  {units:>12}"
        line += "".join(f"  {format_number(result['frechet'][s]['samples']):>16}" for s in spaces)
        lines.append(line)
    lines.append(f"Laplacian variance of the original images: {format_number(originals)}")
    for space, info in metrics.get("feature_spaces", {}).items():
        lines.append(
            f"FD {space}: Fréchet distance of samples to test images in {info['description']}"
        )
    lines += sampler_lines(metrics)
    lines.append("")
    lines.append("t-tests (a - b):")
    for test in metrics["t_tests"]:
        lines.append(
            f"  {test['metric']:<20} {test['a']} vs {test['b']} ({test['test']}): "
            f"t={format_number(test['t'])} p={format_number(test['p'], 3)} "
            f"Holm-adjusted p={format_number(test.get('p_holm'), 3)} "
            f"mean difference={format_number(test['mean_difference'])}"
        )
    lines.append(
        f"  (Holm-Bonferroni over these {len(metrics['t_tests'])} tests: a difference is "
        "significant at 0.05 when its Holm-adjusted p is below 0.05)"
    )
    for name, reason in metrics.get("unavailable", {}).items():
        lines.append(f"unavailable: {name}: {reason}")
    lines += [f"note: {note}" for note in metrics.get("notes", [])]
    return "\n".join(lines)
