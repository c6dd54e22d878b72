"""The demo's key numbers, from ``evaluate``'s result and the SVM accuracies, and their text
form."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

BASELINE = "pvae"


def _t_test(metrics: dict[str, Any], metric: str, a: str, b: str) -> dict[str, Any] | None:
    for test in metrics.get("t_tests", []):
        if (
            test["metric"] == metric
            and test["test"] == "paired"
            and {test["a"], test["b"]} == {a, b}
        ):
            sign = 1 if test["a"] == a else -1  # mean_difference is a - b
            return {
                "t": sign * test["t"] if test["t"] is not None else None,
                "p": test["p"],
                "p_holm": test.get("p_holm"),
                "mean_difference": sign * test["mean_difference"],
            }
    return None


def _svm(rows: list[dict[str, Any]] | None) -> dict[str, float | None]:
    if rows is None:
        return {}
    by_kind = {row["kind"]: row for row in rows}
    multiclass = by_kind.get("multiclass", {})
    return {
        "class_accuracy": multiclass.get("accuracy"),
        "majority_baseline": multiclass.get("majority_baseline"),
        "one_vs_rest_mean": by_kind.get("mean", {}).get("accuracy"),
        "one_vs_rest_majority_baseline": by_kind.get("mean", {}).get("majority_baseline"),
    }


def summarise(
    metrics: dict[str, Any],
    predictions: Mapping[str, list[dict[str, Any]] | None],
    report: Path,
    seconds: float,
) -> dict[str, Any]:
    """Sharpness with paired t-tests against the PVAE, Fréchet distances, SVM accuracies.

    metrics: ``evaluate``'s result; predictions: run name -> ``prediction_rows`` (or None)."""
    models: dict[str, Any] = {}
    for name, result in metrics["runs"].items():
        models[name] = {
            "sharpness_reconstructions": result["sharpness_reconstructions"]["mean"],
            "sharpness_samples": result["sharpness_samples"]["mean"],
            "mse": result["mse"]["mean"],
            "ssim": result["ssim"]["mean"],
            "active_units": result.get("active_units"),
            "kl_per_image": result.get("kl", {}).get("mean"),
            "frechet_samples": {s: v["samples"] for s, v in result["frechet"].items()},
            **_svm(predictions.get(name)),
        }
        if name != BASELINE:
            models[name]["sharpness_vs_pvae"] = _t_test(
                metrics, "sharpness_reconstructions", name, BASELINE
            )
    return {
        "report": str(report),
        "seconds": round(seconds, 1),
        "test_images": metrics["n"],
        "originals_sharpness": metrics["originals"]["sharpness"]["mean"],
        "models": models,
        "unavailable": metrics.get("unavailable", {}),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """A few lines for the terminal: is each DFC-VAE sharper than the PVAE, and by how much."""
    lines = [
        f"Laplacian variance (sharpness) of {summary['test_images']} test reconstructions; "
        f"originals {summary['originals_sharpness']:.4f}"
    ]
    for name, m in summary["models"].items():
        line = (
            f"  {name:<15} recon {m['sharpness_reconstructions']:.4f}  "
            f"samples {m['sharpness_samples']:.4f}"
        )
        test = m.get("sharpness_vs_pvae")
        if test and test.get("p_holm") is not None:
            verdict = "sharper" if test["mean_difference"] > 0 else "blurrier"
            if test["p_holm"] >= 0.05:
                verdict = "not significantly " + verdict
            line += (
                f"  {verdict} than the PVAE: t = {test['t']:.2f}, p = {test['p']:.2g}, "
                f"Holm-adjusted p = {test['p_holm']:.2g}"
            )
        lines.append(line)
    lines.append("Active latent units (0 means KL collapse) and KL per image:")
    for name, m in summary["models"].items():
        if m.get("active_units") is not None:
            lines.append(f"  {name:<15} {m['active_units']} units, KL {m['kl_per_image']:.1f}")
    lines.append("Fréchet distance of samples to test images (lower is better):")
    for name, m in summary["models"].items():
        spaces = ", ".join(f"{s} {v:.2f}" for s, v in m["frechet_samples"].items() if v is not None)
        lines.append(f"  {name:<15} {spaces}")
    lines.append(
        "Linear-SVM accuracy from latent codes: multi-class, mean one-vs-rest "
        "(each beside its majority baseline):"
    )
    for name, m in summary["models"].items():
        if m.get("class_accuracy") is not None:
            lines.append(
                f"  {name:<15} {100 * m['class_accuracy']:.1f}% "
                f"(majority {100 * m['majority_baseline']:.1f}%), "
                f"{100 * m['one_vs_rest_mean']:.1f}% "
                f"(majority {100 * m['one_vs_rest_majority_baseline']:.1f}%)"
            )
    lines.append(f"report: {summary['report']}  ({summary['seconds']:.0f} s)")
    return "\n".join(lines)
