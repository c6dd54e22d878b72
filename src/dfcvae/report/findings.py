"""The report's findings: which run beats which on each significant paired difference."""

from __future__ import annotations

from html import escape

from dfcvae.report.markup import ReportData, fmt

SIGNIFICANCE = 0.05
LEVEL = f"p &lt; {SIGNIFICANCE}"


def findings(data: ReportData) -> str:
    """Significant paired differences between runs, as sentences."""
    if not data.metrics:
        return ""
    described = data.metrics.get("metrics", {})
    items = []
    for test in data.metrics["t_tests"]:
        if test["b"] == "originals" or test["p"] is None or test["p"] >= SIGNIFICANCE:
            continue
        info = described.get(test["metric"], {"description": test["metric"], "better": "higher"})
        a_wins = (test["mean_difference"] > 0) == (info["better"] == "higher")
        winner, loser = (test["a"], test["b"]) if a_wins else (test["b"], test["a"])
        kind = "paired" if test["test"] == "paired" else "Welch"
        items.append(
            f"<li><b>{escape(winner)}</b> beats {escape(loser)} on {escape(info['description'])}: "
            f"mean difference {fmt(abs(test['mean_difference']))} ({kind} t = {fmt(test['t'], 3)}, "
            f"p = {fmt(test['p'], 2)}, n = {test['n']})</li>"
        )
    if not items:
        return f"<p class='caption'>No difference between runs is significant at {LEVEL}.</p>"
    return f"<h3>Significant differences ({LEVEL})</h3><ul class='findings'>{''.join(items)}</ul>"
