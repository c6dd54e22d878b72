"""The results store: every kind of result comes back equal, and a key never returns another
key's result, a corrupt entry or a half-written one."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dfcvae.analysis.embedding import Embedding
from dfcvae.analysis.fingerprint import run_fingerprint
from dfcvae.analysis.grids import Reconstruction
from dfcvae.analysis.store import ResultsStore

KEY = {"kind": "samples", "version": 1, "runs": {"run": "abc"}, "settings": {"seed": 0}}


def results() -> dict[str, object]:
    """One value of each shape ``analyse`` returns."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(3, 1, 4, 4, generator=generator)
    return {
        "samples": images,
        "reconstruction": Reconstruction(images, images.flip(0), [4, 1, 7]),
        "tsne": Embedding(np.random.default_rng(0).normal(size=(5, 2)), np.arange(5), ["a"], "a"),
        "vectors": {"Trouser": torch.ones(4), "Bag": -torch.ones(4)},
        "correlation": (["Trouser", "Bag"], np.array([[1.0, -1.0], [-1.0, 1.0]])),
        "predictions": [{"kind": "mean", "accuracy": 0.9, "C": None}],
        "metrics": {"runs": {"a": {"mse": {"mean": 0.01}}}, "t": [math.nan, 1.5], "n": 3},
    }


def assert_same(a, b) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, Reconstruction | Embedding):
        assert type(a) is type(b)
        for name in vars(a):
            assert_same(getattr(a, name), getattr(b, name))
    elif isinstance(a, dict):
        assert list(a) == list(b)  # order kept: attribute vectors follow the data set's order
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b and type(a) is type(b)


@pytest.mark.parametrize("kind", list(results()))
def test_every_kind_of_result_comes_back_equal(tmp_path, kind):
    store = ResultsStore(tmp_path)
    key = {**KEY, "kind": kind}
    assert store.get(key) is None
    store.put(key, results()[kind])
    assert_same(results()[kind], ResultsStore(tmp_path).get(key))
    files = sorted(path.suffix for path in (tmp_path / kind).iterdir())
    assert set(files) <= {".json", ".safetensors"}  # JSON and safetensors only: no pickle
    entry = json.loads(next((tmp_path / kind).glob("*.json")).read_text())
    assert entry["key"] == key


def test_another_key_finds_nothing_and_a_later_put_replaces(tmp_path):
    store = ResultsStore(tmp_path)
    store.put(KEY, torch.zeros(2))
    others = [{**KEY, "settings": {"seed": 1}}, {**KEY, "runs": {"run": "abd"}}]
    for other in [*others, {**KEY, "version": 2}]:
        assert store.get(other) is None
    store.put(KEY, torch.ones(2))
    assert torch.equal(store.get(KEY), torch.ones(2))


def test_a_corrupt_or_mismatched_entry_is_no_result(tmp_path):
    store = ResultsStore(tmp_path)
    store.put(KEY, torch.zeros(2))
    json_path, tensor_path = store.paths(KEY)
    tensor_path.write_bytes(b"not safetensors")
    assert store.get(KEY) is None
    store.put(KEY, torch.zeros(2))
    tensor_path.unlink()  # a crash between the two writes leaves no JSON; here the reverse
    assert store.get(KEY) is None
    other = {**KEY, "settings": {"seed": 5}}
    store.put(other, torch.zeros(2))
    store.paths(other)[0].replace(json_path)  # another key's entry under this key's name
    store.put(other, torch.zeros(2))
    assert store.get(KEY) is None
    json_path.write_text("{not json")
    assert store.get(KEY) is None


def test_objects_outside_the_known_types_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store a object"):
        ResultsStore(tmp_path).put(KEY, object())
    with pytest.raises(TypeError, match="keys must be strings"):
        ResultsStore(tmp_path).put(KEY, {1: 2})


def test_a_runs_fingerprint_is_its_model_and_config_not_its_name(tiny_run, tmp_path):
    import shutil

    from tests.conftest import perturbed_copy

    renamed = shutil.copytree(tiny_run, tmp_path / "another-name")
    assert run_fingerprint(renamed) == run_fingerprint(tiny_run)
    changed = perturbed_copy(tiny_run, tmp_path / "retrained", scale=0.01, seed=0)
    assert run_fingerprint(changed) != run_fingerprint(tiny_run)
    config = json.loads((renamed / "config.json").read_text())
    config["train"]["seed"] = 12345
    (renamed / "config.json").write_text(json.dumps(config))
    assert run_fingerprint(renamed) != run_fingerprint(tiny_run)
