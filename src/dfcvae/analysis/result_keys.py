"""What each kind of result depends on: the key it is stored under in the results store.

A key names the kind, its format version, the runs it was computed from by fingerprint and the
settings of ``AnalysisSettings`` (and a few resolved values) that change it. Nothing else: the
run's name, ``progress`` or an unrelated setting never makes a result stale, and a retrained
run or a changed setting always does.

To add a kind of result: give it a version and its settings here, a computation in
``analysis.pipeline.computations`` (and a field of ``RunResults``), and a renderer in
``report``. The store keeps any result made of JSON values, tensors and arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dfcvae.analysis.fingerprint import folder_fingerprint

# Settings every model-running result depends on: where and how it ran, and the seed.
RUNNING = ("device", "batch_size", "seed")
# The format version of each kind: raise it when what a kind computes or holds changes, so
# results of the earlier version are computed again.
VERSIONS: dict[str, int] = {
    "metrics": 3,  # 2: t-tests carry Holm-adjusted p values; 3: samples scored per sampler
    "reconstruction": 1,
    "samples": 1,
    "samples_fitted": 1,
    "interpolation": 1,
    "tsne": 1,
    "vectors": 1,
    "edit": 1,
    "correlation": 1,
    "predictions": 1,
}
# The settings of ``AnalysisSettings`` each kind depends on. Every kind that reads the runs'
# images depends on where they are read from (``--data-root``); the samples alone do not.
DATA = ("data_root",)
DEPENDS: dict[str, tuple[str, ...]] = {
    "metrics": ("split", "n_eval", "temperature", "feature_spaces", "classifier", *RUNNING, *DATA),
    "reconstruction": ("split", "n_grid", *RUNNING, *DATA),
    "samples": ("n_grid", "temperature", *RUNNING),
    "samples_fitted": ("n_grid", "temperature", *RUNNING, *DATA),
    "interpolation": ("split", "steps", "rows", "temperature", *RUNNING, *DATA),
    "tsne": ("split", "n_tsne", "perplexity", *RUNNING, *DATA),
    "vectors": ("limit", "device", "batch_size", *DATA),
    "edit": ("split", "n_grid", "strengths", "limit", *RUNNING, *DATA),
    "correlation": ("limit", "device", "batch_size", *DATA),
    "predictions": ("limit", *RUNNING, *DATA),
}


def setting_value(settings: Any, name: str) -> Any:
    """A setting as it enters a key: sequences as lists, a classifier folder by content, a data
    root as an absolute path (None: each run's own folder)."""
    value = getattr(settings, name)
    if name == "data_root" and value is not None:
        return str(Path(value).resolve())
    if name == "classifier" and value is not None:
        return {"path": str(value), "content": folder_fingerprint(Path(value))}
    if isinstance(value, tuple | list):
        return list(value)
    return value


def result_key(kind: str, settings: Any, runs: dict[str, str], **resolved: Any) -> dict[str, Any]:
    """The key of one result. settings: ``analysis.pipeline.AnalysisSettings``; runs: the
    fingerprints it was computed from, by a label that the result itself shows (the run names of
    ``evaluate``'s result; ``"run"`` for one run's); resolved: values worked out from other
    results (e.g. the edit's attribute)."""
    return {
        "kind": kind,
        "version": VERSIONS[kind],
        "runs": runs,
        "settings": {name: setting_value(settings, name) for name in DEPENDS[kind]},
        **resolved,
    }
