"""The report shows what the current runs and settings give: a changed setting or a retrained run
recomputes exactly the results that depend on it, and the others are taken from the store."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from dfcvae.analysis import attribute_vectors, open_run, read_attribute_vectors
from dfcvae.analysis.pipeline import RUN_KINDS, AnalysisSettings, analyse
from dfcvae.analysis.run_vectors import VECTORS_CACHE, cached_attribute_vectors
from dfcvae.cli import main
from dfcvae.files import MODEL_FILE
from dfcvae.report import store_dir
from tests.conftest import FASHION_MNIST, perturbed_copy

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = AnalysisSettings(
    n_eval=16,
    n_grid=8,
    n_tsne=30,
    perplexity=5,
    steps=4,
    rows=2,
    limit=200,
    batch_size=32,
    progress=False,
)
REPORT = "--n-eval 16 --n-grid 8 --n-tsne 30 --limit 200 --batch-size 32 --quiet".split()


def retrain(run: Path, tmp_path: Path, seed: int) -> None:
    """What `train --force` does to a run directory, as far as its results go: another model
    file under the same name."""
    other = perturbed_copy(run, tmp_path / f"retrained-{seed}", scale=0.05, seed=seed)
    shutil.copyfile(other / MODEL_FILE, run / MODEL_FILE)


def entries(store: Path) -> dict[str, int]:
    return {kind.name: len(list(kind.glob("*.json"))) for kind in store.iterdir()}


@pytest.fixture
def run(tiny_run, tmp_path) -> Path:
    return shutil.copytree(tiny_run, tmp_path / "pvae")


def report(run: Path, out: Path, *options: str) -> tuple[str, Path]:
    assert main(["report", str(run), "-o", str(out), *REPORT, *options]) == 0
    return out.read_text(), out.with_name(out.stem + "_files")


def test_a_changed_temperature_or_attribute_recomputes_only_what_depends_on_it(run, tmp_path):
    out = tmp_path / "report.html"
    _, files = report(run, out, "--attribute", "Trouser")
    images = files / "pvae"
    before = {path.name: path.read_bytes() for path in images.glob("*.png")}
    store = store_dir(files)
    stored = {path: path.stat().st_mtime_ns for path in store.rglob("*.json")}
    html, _ = report(run, out, "--temperature", "0.5", "--attribute", "Sneaker")
    after = {path.name: path.read_bytes() for path in images.glob("*.png")}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"samples.png", "samples_fitted.png", "interpolation.png", "edit.png"}
    twice = {"samples": 2, "samples_fitted": 2, "interpolation": 2, "edit": 2, "metrics": 2}
    assert entries(store) == {kind: 1 for kind in RUN_KINDS} | twice
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in stored.items())
    assert "temperature = 0.5" in html and "Attribute: <b>Sneaker</b>" in html
    assert json.loads((files / "metrics.json").read_text())["temperature"] == 0.5

    # Back to the first settings: everything comes from the store, nothing is computed.
    html, _ = report(run, out, "--attribute", "Trouser")
    assert {path.name: path.read_bytes() for path in images.glob("*.png")} == before
    assert entries(store)["samples"] == 2 and "Attribute: <b>Trouser</b>" in html


def test_a_changed_seed_keeps_only_the_attribute_vectors(run, tmp_path):
    store = tmp_path / "store"
    first = analyse([run], SMALL, store=store)
    assert first.metrics_fresh and first.runs["pvae"].fresh == set(RUN_KINDS)
    again = analyse([run], dataclasses.replace(SMALL, seed=3), store=store)
    assert again.metrics_fresh
    assert again.runs["pvae"].fresh == set(RUN_KINDS) - {"vectors", "correlation"}
    assert not torch.equal(again.runs["pvae"].samples, first.runs["pvae"].samples)
    assert again.metrics["seed"] == 3 and again.metrics["indices"] != first.metrics["indices"]


def test_a_run_retrained_under_its_name_gets_new_results(run, tmp_path):
    store = tmp_path / "store"
    first = analyse([run], SMALL, store=store)
    retrain(run, tmp_path, seed=1)
    again = analyse([run], SMALL, store=store)
    assert again.metrics_fresh and again.runs["pvae"].fresh == set(RUN_KINDS)
    mse = [result.metrics["runs"]["pvae"]["mse"]["mean"] for result in (first, again)]
    assert mse[0] != mse[1]
    assert not torch.equal(first.runs["pvae"].samples, again.runs["pvae"].samples)
    unchanged = analyse([run], SMALL, store=store)
    assert not unchanged.metrics_fresh and not unchanged.runs["pvae"].fresh
    assert unchanged.metrics == again.metrics


def test_edit_and_explore_use_the_attribute_vectors_of_the_retrained_model(run, tmp_path, capsys):
    vectors = run / VECTORS_CACHE
    assert main(["attribute-vectors", str(run), "--limit", "200", "--quiet"]) == 0
    old = read_attribute_vectors(vectors)
    edit = ["edit", str(run), "--attribute", "Trouser", "--n", "2", "--quiet"]
    assert main([*edit, "-o", str(tmp_path / "e1.png")]) == 0
    assert f"attribute vectors: {vectors}" in capsys.readouterr().err  # its own, reused

    retrain(run, tmp_path, seed=2)
    assert main([*edit, "-o", str(tmp_path / "e2.png")]) == 0
    err = capsys.readouterr().err
    assert "computed from another model than" in err and "computing them over the train" in err
    with pytest.warns(UserWarning, match="computed from another model"):
        explored = cached_attribute_vectors(open_run(run), progress=False)
    new = attribute_vectors(open_run(run), progress=False)
    for name in new:
        torch.testing.assert_close(explored[name], new[name])
    assert any(not torch.allclose(old[name], new[name]) for name in new)
    assert cached_attribute_vectors(open_run(run), progress=False).keys() == new.keys()  # kept


def test_another_data_root_recomputes_what_reads_the_images(run, tmp_path):
    """``--data-root`` names where the images come from: results computed on another folder are
    never reused for it, and the samples, which read no image, are."""
    store = tmp_path / "store"
    analyse([run], SMALL, store=store)
    moved = shutil.copytree(FASHION_MNIST, tmp_path / "moved-data")
    again = analyse([run], dataclasses.replace(SMALL, data_root=moved), store=store)
    assert again.runs["pvae"].fresh == set(RUN_KINDS) - {"samples"}
    assert again.metrics_fresh
    # The same folder named another way is the same key: nothing is computed.
    relative = moved.parent / "." / moved.name
    same = analyse([run], dataclasses.replace(SMALL, data_root=relative), store=store)
    assert same.runs["pvae"].fresh == set() and not same.metrics_fresh
