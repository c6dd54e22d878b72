"""Each analysis function on a tiny trained run: shapes, ranges, determinism, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dfcvae.analysis import (
    MissingLabelsError,
    ResizedImageWarning,
    attribute_vectors,
    edit,
    interpolate,
    open_run,
    predict_attributes,
    reconstruct,
    sample,
    tsne,
)
from dfcvae.data import DataError
from dfcvae.errors import ConfigError, DFCVAEError, RunDirError

CLASSES = 10


@pytest.fixture(scope="module")
def run(tiny_run):
    return open_run(tiny_run)


def in_unit_range(images: torch.Tensor) -> bool:
    return bool(images.min() >= 0 and images.max() <= 1)


def test_reconstruct_gives_inputs_and_reconstructions_deterministically(run):
    first = reconstruct(run, n=6, seed=3, progress=False)
    assert first.inputs.shape == first.reconstructions.shape == (6, 1, 32, 32)
    assert in_unit_range(first.reconstructions) and len(first.indices) == 6
    again = reconstruct(run, n=6, seed=3, progress=False)
    assert again.indices == first.indices
    assert torch.equal(again.reconstructions, first.reconstructions)
    assert reconstruct(run, n=6, seed=4, progress=False).indices != first.indices


def test_sample_is_deterministic_with_a_seed_and_the_temperature_scales_z(run):
    a, b = sample(run, n=5, seed=1), sample(run, n=5, seed=1)
    assert a.shape == (5, 1, 32, 32) and in_unit_range(a) and torch.equal(a, b)
    assert not torch.equal(a, sample(run, n=5, seed=2))
    cold = sample(run, n=2, temperature=0.0, seed=1, sampler="standard")
    assert torch.allclose(cold[0], cold[1])  # T = 0: every z is the origin


def test_interpolate_between_random_codes_and_data_set_images(run):
    grid = interpolate(run, steps=4, rows=3, seed=0)
    assert grid.shape == (3, 4, 1, 32, 32) and in_unit_range(grid)
    assert torch.equal(grid, interpolate(run, steps=4, rows=3, seed=0))
    spherical = interpolate(run, steps=4, rows=3, seed=0, spherical=True)
    assert torch.allclose(spherical[:, 0], grid[:, 0], atol=1e-5)  # same endpoints
    assert torch.allclose(spherical[:, -1], grid[:, -1], atol=1e-5)
    images = interpolate(run, left=[0, "1"], right=[2, 3], steps=3)
    assert images.shape == (2, 3, 1, 32, 32)


def test_interpolation_endpoint_of_the_wrong_size_is_resized_and_said(run, tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray((np.random.default_rng(0).random((48, 60, 3)) * 255).astype(np.uint8)).save(
        path
    )
    with pytest.warns(ResizedImageWarning, match="60x48 resized to the model's 32x32"):
        images = interpolate(run, left=[str(path)], right=[0], steps=2)
    assert images.shape == (1, 2, 1, 32, 32)


def test_attribute_vectors_of_a_class_set_are_one_vs_rest(run):
    vectors = attribute_vectors(run, limit=200, progress=False)
    assert len(vectors) == CLASSES
    assert all(v.shape == (16,) and torch.isfinite(v).all() for v in vectors.values())
    assert "Trouser" in vectors


def test_edit_sweeps_strengths_with_the_input_first(run):
    vectors = attribute_vectors(run, limit=200, progress=False)
    grid = edit(run, "Trouser", strengths=(-1.0, 0.0, 1.0), n=3, vectors=vectors, seed=0)
    assert grid.shape == (3, 4, 1, 32, 32) and in_unit_range(grid)
    again = edit(run, "Trouser", strengths=(-1.0, 0.0, 1.0), n=3, vectors=vectors, seed=0)
    assert torch.equal(grid, again)
    recon = reconstruct(run, n=3, seed=0, progress=False)
    assert torch.allclose(grid[:, 0], recon.inputs)  # the same test images
    assert torch.allclose(grid[:, 2], recon.reconstructions, atol=1e-6)  # strength 0


def test_edit_with_an_unknown_attribute_lists_the_valid_ones(run):
    vectors = {"Trouser": torch.zeros(16)}
    with pytest.raises(ConfigError, match="'Smiling' does not exist: choose one of Trouser"):
        edit(run, "Smiling", n=2, vectors=vectors)


def test_predict_attributes_beats_the_majority_baseline(run):
    result = predict_attributes(run, cs=(0.1, 1.0), limit=300, progress=False)
    assert len(result.rows) == CLASSES
    assert result.reference_mean == pytest.approx(0.8695)  # the paper, on CelebA: a reference
    assert all(0 <= row["accuracy"] <= 1 for row in result.rows)
    assert result.mean_accuracy > result.mean_majority_baseline
    assert result.multiclass["accuracy"] > result.multiclass["majority_baseline"] + 0.2


def test_tsne_gives_2_d_points_coloured_by_class_deterministically(run):
    a = tsne(run, n=40, perplexity=5, seed=0, progress=False)
    assert a.points.shape == (40, 2) and np.isfinite(a.points).all()
    assert a.values.shape == (40,) and set(a.values) <= set(range(CLASSES))
    assert len(a.value_names) == CLASSES
    b = tsne(run, n=40, perplexity=5, seed=0, progress=False)
    assert np.allclose(a.points, b.points)
    one = tsne(run, n=20, perplexity=5, color_by="Trouser", progress=False)
    assert one.value_names == ["not Trouser", "Trouser"] and set(one.values) <= {0, 1}


@pytest.mark.parametrize(
    "call",
    [
        lambda run: reconstruct(run, n=0),
        lambda run: sample(run, n=0),
        lambda run: interpolate(run, rows=0),
        lambda run: edit(run, "Trouser", n=0, vectors={"Trouser": torch.zeros(16)}),
        lambda run: tsne(run, n=0),
        lambda run: sample(run, n=2, temperature=-1),
        lambda run: reconstruct(run, split="validation"),
        lambda run: tsne(run, n=10, color_by="Smiling"),
        lambda run: interpolate(run, left=[0], right=None),
        lambda run: interpolate(run, left=[10**6], right=[0]),
    ],
)
def test_bad_options_are_one_clear_line(run, call):
    with pytest.raises(ConfigError) as error:
        call(run)
    assert "\n" not in str(error.value)


def test_a_run_directory_missing_files_is_one_clear_line(tiny_run, tmp_path):
    with pytest.raises(RunDirError, match="no such run directory"):
        sample(tmp_path / "nowhere", n=1)
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(Path(tiny_run) / "config.json", broken / "config.json")
    with pytest.raises(RunDirError, match="model.safetensors: missing"):
        sample(broken, n=1)
    with pytest.raises(RunDirError, match="config.json: missing"):
        sample(tmp_path, n=1)


def test_a_data_set_without_labels_is_one_clear_line(run, tmp_path, monkeypatch):
    unlabelled = run.dataset("test", limit=20, progress=False)
    unlabelled.labels, unlabelled.label_kind = None, None
    monkeypatch.setattr(type(run), "dataset", lambda self, *a, **k: unlabelled)
    with pytest.raises(MissingLabelsError, match="needs labels") as error:
        predict_attributes(run, progress=False)
    assert isinstance(error.value, DFCVAEError) and not isinstance(error.value, DataError)
    with pytest.raises(MissingLabelsError, match="has no labels"):
        attribute_vectors(run, progress=False)


def test_attribute_labelled_sets_like_celeba(run, monkeypatch):
    """Attributes (N, A) {0, 1}, as CelebA's: built here from Fashion-MNIST classes."""
    footwear, tops = (5, 7, 9), (0, 2, 4, 6)
    datasets = {}

    def attribute_dataset(self, split="test", limit=None, progress=True):
        if split not in datasets:
            dataset = type(self).__dict__["_real_dataset"](self, split, 200, False)
            classes = np.asarray(dataset.labels)
            dataset.labels = np.stack([np.isin(classes, footwear), np.isin(classes, tops)], 1)
            dataset.labels = dataset.labels.astype(np.uint8)
            dataset.label_kind, dataset.label_names = "attributes", ["Footwear", "Top"]
            datasets[split] = dataset
        return datasets[split]

    monkeypatch.setattr(type(run), "_real_dataset", type(run).dataset, raising=False)
    monkeypatch.setattr(type(run), "dataset", attribute_dataset)
    vectors = attribute_vectors(run, progress=False)
    assert list(vectors) == ["Footwear", "Top"]
    result = predict_attributes(run, cs=(1.0,), progress=False)
    assert [row["attribute"] for row in result.rows] == ["Footwear", "Top"]
    assert result.multiclass is None
    assert result.rows[0]["accuracy"] > result.rows[0]["majority_baseline"]
    embedding = tsne(run, n=20, perplexity=5, color_by="Footwear", progress=False)
    assert embedding.value_names == ["not Footwear", "Footwear"]
    with pytest.raises(ConfigError, match="choose one of Footwear, Top"):
        tsne(run, n=20, color_by="class")  # no classes on an attribute set
    assert tsne(run, n=20, perplexity=5, color_by=None, progress=False).values is None
    assert tsne(run, n=20, perplexity=5, progress=False).color_by == "Footwear"  # auto
