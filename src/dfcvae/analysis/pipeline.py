"""``analyse``: every result that the report shows, computed in one place, and the only code that
reads or writes the results store (``analysis.store``).

The ``dfcvae report`` command and the demo call ``analyse`` and hand its ``AnalysisResults`` to
``dfcvae.report.build_report``, which only renders them. Each result is looked up in the store
under its key (``analysis.result_keys``: the runs' fingerprints and the settings it depends on)
and computed only when the store lacks it; a changed setting or a retrained run therefore
recomputes exactly the results that depend on it. A result that cannot be computed is recorded
in ``problems`` with the reason; the others still are.

Per run, in this order: reconstruction, samples (the standard sampler's), samples_fitted (the
fitted latent prior's, see ``latent_prior``), interpolation, tsne, vectors (attribute
vectors), edit, correlation (of the attribute vectors) and predictions (linear-SVM accuracies,
as the rows of ``prediction_rows``); for all runs together, ``evaluate``'s metrics first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from dfcvae.analysis.attributes import attribute_correlation, attribute_vectors, edit
from dfcvae.analysis.embedding import tsne
from dfcvae.analysis.evaluate import FEATURE_SPACES, evaluate
from dfcvae.analysis.fingerprint import run_fingerprint
from dfcvae.analysis.grids import interpolate, reconstruct, sample
from dfcvae.analysis.predict import predict_attributes, prediction_rows
from dfcvae.analysis.result_keys import result_key
from dfcvae.analysis.runs import Run, open_run, run_names
from dfcvae.analysis.store import ResultsStore
from dfcvae.analysis.training_logs import read_loss_log
from dfcvae.errors import DFCVAEError
from dfcvae.saved.model_files import read_config
from dfcvae.vae.run_config import RunConfig

RUN_KINDS = (
    "reconstruction",
    "samples",
    "samples_fitted",
    "interpolation",
    "tsne",
    "vectors",
    "edit",
    "correlation",
    "predictions",
)
PREFERRED_EDIT = ("Smiling", "Eyeglasses")
NOT_STORED = "not computed: no stored result for these runs and settings (run without --no-compute)"


@dataclass
class AnalysisSettings:
    """How much ``analyse`` computes. n_eval: images for ``evaluate``'s metrics; n_grid: images
    per reconstruction, sample and edit grid (edits at most 8); n_tsne and perplexity: t-SNE;
    steps and rows: interpolations; temperature: of samples and random endpoints;
    edit_attribute: default Smiling, else the longest attribute vector of the first run;
    limit: first images per split for attribute vectors and SVMs (default each run's own);
    data_root: every run reads its data from there instead of its config.json's folder."""

    split: str = "test"
    n_eval: int = 500
    n_grid: int = 16
    n_tsne: int = 500
    perplexity: float = 30.0
    steps: int = 8
    rows: int = 4
    temperature: float = 1.0
    edit_attribute: str | None = None
    strengths: Sequence[float] = (-2.0, -1.0, 0.0, 1.0, 2.0)
    limit: int | None = None
    feature_spaces: Sequence[str] = FEATURE_SPACES
    classifier: str | Path | None = None
    data_root: str | Path | None = None
    device: str = "cpu"
    batch_size: int = 64
    seed: int = 0
    progress: bool = True


@dataclass
class RunResults:
    """One run's results (None where missing); fingerprint: the run's identity
    (``run_fingerprint``); fresh: the kinds computed by this call, as opposed to taken from the
    store; problems: kind -> why it is missing."""

    fingerprint: str = ""
    reconstruction: Any = None
    samples: torch.Tensor | None = None
    samples_fitted: torch.Tensor | None = None
    interpolation: torch.Tensor | None = None
    tsne: Any = None
    vectors: dict[str, torch.Tensor] | None = None
    edit: torch.Tensor | None = None
    correlation: tuple[list[str], Any] | None = None
    predictions: list[dict[str, Any]] | None = None
    fresh: set[str] = field(default_factory=set)
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class AnalysisResults:
    """What ``analyse`` returns: the runs (names, folders, configs), the settings, the chosen
    edit attribute, ``evaluate``'s metrics (metrics_fresh: computed by this call), each run's
    ``RunResults`` and training log (``read_loss_log``, read fresh each time); problems:
    page-wide kinds (``metrics``) -> why they are missing."""

    names: list[str]
    run_dirs: list[Path]
    configs: dict[str, RunConfig]
    settings: AnalysisSettings
    runs: dict[str, RunResults] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    metrics_fresh: bool = False
    logs: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)
    edit_attribute: str | None = None
    problems: dict[str, str] = field(default_factory=dict)


def pick_attribute(vectors: dict[str, torch.Tensor]) -> str:
    """The paper's example attributes when present, else the longest attribute vector."""
    for name in PREFERRED_EDIT:
        if name in vectors:
            return name
    return max(vectors, key=lambda name: float(vectors[name].norm()))


class Results:
    """The store as ``analyse`` uses it: look a result up by key, else compute and keep it."""

    def __init__(self, store: ResultsStore | None, compute: bool) -> None:
        self.store, self.compute = store, compute

    def obtain(self, key: dict[str, Any], make: Callable[[], Any], problems: dict[str, str]):
        """(result, fresh): the stored result, or ``make()``'s (stored), or (None, False) with
        the reason in ``problems[kind]``."""
        kind = key["kind"]
        stored = self.store.get(key) if self.store is not None else None
        if stored is not None:
            return stored, False
        if not self.compute:
            problems[kind] = NOT_STORED
            return None, False
        result = attempt(problems, kind, make)
        if result is not None and self.store is not None:
            self.store.put(key, result)
        return result, result is not None


def analyse(
    run_dirs: Sequence[str | Path],
    settings: AnalysisSettings | None = None,
    *,
    store: str | Path | ResultsStore | None = None,
    compute: bool = True,
) -> AnalysisResults:
    """Every result of the report for ``run_dirs``: taken from ``store`` (a folder or a
    ``ResultsStore``; None keeps nothing) when it holds them for these runs and settings,
    else computed and stored (nothing computed when ``compute`` is False)."""
    settings = settings or AnalysisSettings()
    if store is not None and not isinstance(store, ResultsStore):
        store = ResultsStore(store)
    results_store = Results(store, compute)
    paths = [Path(run_dir) for run_dir in run_dirs]
    names = run_names(paths)
    configs = {
        name: read_config(path).with_data_root(settings.data_root)
        for name, path in zip(names, paths, strict=True)
    }
    fingerprints = {name: run_fingerprint(path) for name, path in zip(names, paths, strict=True)}
    results = AnalysisResults(
        names, paths, configs, settings, edit_attribute=settings.edit_attribute
    )
    results.logs = {name: read_loss_log(path) for name, path in zip(names, paths, strict=True)}
    runs = RunCache(dict(zip(names, paths, strict=True)), settings.device, settings.data_root)
    key = result_key("metrics", settings, fingerprints)
    results.metrics, results.metrics_fresh = results_store.obtain(
        key, lambda: evaluate_runs(runs, names, settings), results.problems
    )
    for name in tqdm(names, desc="report", disable=not settings.progress):
        out = RunResults(fingerprint=fingerprints[name])
        results.runs[name] = analyse_run(runs, name, results, out, results_store)
    return results


def evaluate_runs(runs: RunCache, names: list[str], settings: AnalysisSettings) -> dict[str, Any]:
    opened = [runs.get(name) for name in names]  # a run that does not load stops here
    return evaluate(
        opened,
        split=settings.split,
        n=settings.n_eval,
        temperature=settings.temperature,
        feature_spaces=settings.feature_spaces,
        classifier=settings.classifier,
        device=settings.device,
        batch_size=settings.batch_size,
        seed=settings.seed,
        progress=settings.progress,
    )


class RunCache:
    """Opens each run once, when a result first needs its model."""

    def __init__(self, run_dirs: dict[str, Path], device: str, data_root: str | Path | None = None):
        self.run_dirs, self.device, self.data_root, self.runs = run_dirs, device, data_root, {}

    def get(self, name: str) -> Run:
        if name not in self.runs:
            self.runs[name] = open_run(self.run_dirs[name], self.device, data_root=self.data_root)
        return self.runs[name]


def attempt(problems: dict[str, str], kind: str, make: Callable[[], Any]) -> Any:
    """``make()``, or None with the reason in ``problems[kind]`` when it fails in one line."""
    try:
        return make()
    except DFCVAEError as error:  # DataError too
        problems[kind] = str(error)
        return None


def analyse_run(
    runs: RunCache, name: str, results: AnalysisResults, out: RunResults, store: Results
) -> RunResults:
    """One run's results, in ``RUN_KINDS`` order, each from the store or computed. The edit and
    the correlation are keyed by the attribute vectors' settings too, since they use them."""
    identity = {"run": out.fingerprint}
    for kind, make in computations(lambda: runs.get(name), results, out).items():
        if kind in ("edit", "correlation") and out.vectors is None:
            if "vectors" in out.problems:
                out.problems[kind] = out.problems["vectors"]
            continue
        resolved = {}
        if kind == "edit":  # the first run's choice holds for all
            results.edit_attribute = results.edit_attribute or pick_attribute(out.vectors)
            resolved = {"attribute": results.edit_attribute}
        key = result_key(kind, results.settings, identity, **resolved)
        value, fresh = store.obtain(key, make, out.problems)
        setattr(out, kind, value)
        if fresh:
            out.fresh.add(kind)
    return out


def computations(
    run: Callable[[], Run], results: AnalysisResults, out: RunResults
) -> dict[str, Callable[[], Any]]:
    """How to compute each kind of result of one run, in ``RUN_KINDS`` order. The edit and the
    correlation use the attribute vectors in ``out``; the edit, the attribute of ``results``."""
    s = results.settings
    common = {"device": s.device, "batch_size": s.batch_size, "seed": s.seed}
    big = {**common, "batch_size": max(s.batch_size, 256)}
    return {
        "reconstruction": lambda: reconstruct(
            run(), s.split, s.n_grid, progress=s.progress, **common
        ),
        "samples": lambda: sample(run(), s.n_grid, s.temperature, sampler="standard", **common),
        "samples_fitted": lambda: sample(
            run(), s.n_grid, s.temperature, sampler="fitted", progress=s.progress, **common
        ),
        "interpolation": lambda: interpolate(
            run(),
            steps=s.steps,
            rows=s.rows,
            split=s.split,
            temperature=s.temperature,
            sampler="standard",  # the paper's random pairs, as stored under this result's key
            **common,
        ),
        "tsne": lambda: tsne(
            run(), s.split, s.n_tsne, perplexity=s.perplexity, progress=s.progress, **common
        ),
        "vectors": lambda: attribute_vectors(
            run(), limit=s.limit, device=s.device, batch_size=big["batch_size"], progress=s.progress
        ),
        "edit": lambda: edit(
            run(),
            results.edit_attribute,
            s.strengths,
            min(s.n_grid, 8),
            vectors=out.vectors,
            split=s.split,
            progress=s.progress,
            **common,
        ),
        "correlation": lambda: attribute_correlation(out.vectors),
        "predictions": lambda: prediction_rows(
            predict_attributes(run(), limit=s.limit, progress=s.progress, **big)
        ),
    }
