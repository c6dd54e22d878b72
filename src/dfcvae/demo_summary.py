"""The demo's key numbers, read back from the report's result files, and their text form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dfcvae.report.tables import read_predictions_csv

BASELINE = "pvae"


def _t_test(metrics: dict[str, Any], metric: str, a: str, b: str) -> dict[str, Any] | None:
    for test in metrics.get("t_tests", []):
        if (
            test["metric"] == metric
            and test["test"] == "paired"
            and {test["a"], test["b"]} == {a, b}
        ):
            sign = 1 if test["a"] == a else -1  # mean_difference is a - b
            return {"t": sign * test["t"] if test["t"] is not None else None, "p": test["p"],
                    "mean_difference": sign * test["mean_difference"]}  # fmt: skip
    return None


def _svm(files: Path, name: str) -> dict[str, float | None]:
    path = files / name / "attribute_predictions.csv"
    if not path.is_file():
        return {}
    rows = {row["kind"]: row for row in read_predictions_csv(path)}
    multiclass = rows.get("multiclass", {})
    return {"class_accuracy": multiclass.get("accuracy"),
            "majority_baseline": multiclass.get("majority_baseline"),
            "one_vs_rest_mean": rows.get("mean", {}).get("accuracy")}  # fmt: skip


def summarise(out: Path, report: Path, seconds: float) -> dict[str, Any]:
    """Blur with paired t-tests against the PVAE, Fréchet distances, SVM accuracies."""
    files = report.with_name(report.stem + "_files")
    metrics = json.loads((files / "metrics.json").read_text())
    models: dict[str, Any] = {}
    for name, result in metrics["runs"].items():
        models[name] = {
            "blur_reconstructions": result["blur_reconstructions"]["mean"],
            "blur_samples": result["blur_samples"]["mean"],
            "mse": result["mse"]["mean"],
            "ssim": result["ssim"]["mean"],
            "active_units": result.get("active_units"),
            "kl_per_image": result.get("kl", {}).get("mean"),
            "frechet_samples": {s: v["samples"] for s, v in result["frechet"].items()},
            **_svm(files, name),
        }
        if name != BASELINE:
            models[name]["blur_vs_pvae"] = _t_test(metrics, "blur_reconstructions", name, BASELINE)
    return {
        "report": str(report),
        "seconds": round(seconds, 1),
        "test_images": metrics["n"],
        "originals_blur": metrics["originals"]["blur"]["mean"],
        "models": models,
        "unavailable": metrics.get("unavailable", {}),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """A few lines for the terminal: is each DFC-VAE sharper than the PVAE, and by how much."""
    lines = [f"Laplacian variance (sharpness) of {summary['test_images']} test reconstructions; "
             f"originals {summary['originals_blur']:.4f}"]  # fmt: skip
    for name, m in summary["models"].items():
        line = (
            f"  {name:<15} recon {m['blur_reconstructions']:.4f}  samples {m['blur_samples']:.4f}"
        )
        test = m.get("blur_vs_pvae")
        if test and test["p"] is not None:
            verdict = "sharper" if test["mean_difference"] > 0 else "blurrier"
            line += f"  {verdict} than the PVAE: t = {test['t']:.2f}, p = {test['p']:.2g}"
        lines.append(line)
    lines.append("Active latent units (0 means KL collapse) and KL per image:")
    for name, m in summary["models"].items():
        if m.get("active_units") is not None:
            lines.append(f"  {name:<15} {m['active_units']} units, KL {m['kl_per_image']:.1f}")
    lines.append("Fréchet distance of samples to test images (lower is better):")
    for name, m in summary["models"].items():
        spaces = ", ".join(f"{s} {v:.2f}" for s, v in m["frechet_samples"].items() if v is not None)
        lines.append(f"  {name:<15} {spaces}")
    lines.append("Linear-SVM class accuracy from latent codes (majority baseline):")
    for name, m in summary["models"].items():
        if m.get("class_accuracy") is not None:
            lines.append(f"  {name:<15} {100 * m['class_accuracy']:.1f}% "
                         f"({100 * m['majority_baseline']:.1f}%)")  # fmt: skip
    lines.append(f"report: {summary['report']}  ({summary['seconds']:.0f} s)")
    return "\n".join(lines)
