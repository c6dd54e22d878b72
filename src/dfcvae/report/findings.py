"""The report's findings: which run beats which on each significant difference, after Holm's
correction for the whole family of t-tests the report shows."""

from __future__ import annotations

from html import escape

from dfcvae.report.markup import ReportData, fmt

SIGNIFICANCE = 0.05
LEVEL = f"Holm-adjusted p &lt; {SIGNIFICANCE}"
CORRECTION = (
    "p values are adjusted for multiple comparisons by the Holm-Bonferroni step-down method over "
    "all {m} t-tests of the table below (the family), which keeps the chance of any false "
    f"finding among them under {SIGNIFICANCE}."
)


def family_size(data: ReportData) -> int:
    """How many t-tests share the correction (those with a p value)."""
    return sum(1 for test in data.metrics["t_tests"] if test.get("p") is not None)


def correction_note(data: ReportData) -> str:
    return f"<p class='caption'>{CORRECTION.format(m=family_size(data))}</p>"


def findings(data: ReportData) -> str:
    """Differences between runs significant at ``LEVEL``, as sentences, with the correction
    stated. Results without adjusted p values (written by an earlier version) find nothing."""
    if not data.metrics:
        return ""
    if data.metrics["t_tests"] and all("p_holm" not in test for test in data.metrics["t_tests"]):
        return (
            "<p class='missing'>These t-tests were computed without a correction for multiple "
            "comparisons: run the report again to compute the Holm-adjusted p values.</p>"
        )
    described = data.metrics.get("metrics", {})
    items = []
    for test in data.metrics["t_tests"]:
        adjusted = test.get("p_holm")
        if test["b"] == "originals" or adjusted is None or adjusted >= SIGNIFICANCE:
            continue
        info = described.get(test["metric"], {"description": test["metric"], "better": "higher"})
        a_wins = (test["mean_difference"] > 0) == (info["better"] == "higher")
        winner, loser = (test["a"], test["b"]) if a_wins else (test["b"], test["a"])
        kind = "paired" if test["test"] == "paired" else "Welch"
        items.append(
            f"<li><b>{escape(winner)}</b> beats {escape(loser)} on {escape(info['description'])}: "
            f"mean difference {fmt(abs(test['mean_difference']))} ({kind} t = {fmt(test['t'], 3)}, "
            f"p = {fmt(test['p'], 2)}, Holm-adjusted p = {fmt(adjusted, 2)}, n = {test['n']})</li>"
        )
    if not items:
        return (
            f"<p class='caption'>No difference between runs is significant at {LEVEL}.</p>"
            + correction_note(data)
        )
    return (
        f"<h3>Significant differences ({LEVEL})</h3>{correction_note(data)}"
        f"<ul class='findings'>{''.join(items)}</ul>"
    )
