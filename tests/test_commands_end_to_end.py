"""Every analysis command end to end on the tiny run, with the values it writes checked against
computations made here from the model and the data (numpy, scipy, scikit-image, scikit-learn),
not against the functions under test."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from scipy import ndimage
from scipy.stats import ttest_rel

from dfcvae.cli import main
from dfcvae.data import build_dataset
from dfcvae.report.images import PADDING
from dfcvae.saved.model_files import load_run
from tests.conftest import perturbed_copy
from tests.test_values_independent import ssim_by_hand

SIZE = 32
TOLERANCE = 1.5 / 255  # PNG quantisation (half a level) plus float noise


def tiles(path: Path) -> np.ndarray:
    """The 32x32 tiles of a make_grid PNG as (rows, columns, 32, 32) in [0, 1] (first channel)."""
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)[..., 0] / 255
    step = SIZE + PADDING
    rows, cols = (pixels.shape[0] - PADDING) // step, (pixels.shape[1] - PADDING) // step
    out = np.empty((rows, cols, SIZE, SIZE))
    for r in range(rows):
        for c in range(cols):
            top, left = PADDING + r * step, PADDING + c * step
            out[r, c] = pixels[top : top + SIZE, left : left + SIZE]
    return out


def chosen(size: int, n: int, seed: int = 0) -> list[int]:
    """The documented choice of images: a seeded permutation's first n, sorted."""
    return sorted(torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:n].tolist())


class Tiny:
    """The tiny run's model and data, opened here without the analysis package."""

    def __init__(self, run: Path):
        self.run = Path(run)
        self.model, self.config = load_run(run)

    def dataset(self, split: str, limit: int | None = None):
        data = self.config.data
        return build_dataset(data.dataset, root=data.root, split=split, image_size=SIZE,
                             channels=1, crop=data.crop, cache_dir=data.cache_dir,
                             limit=limit or data.limit, progress=False)  # fmt: skip

    def images(self, split: str, indices: list[int]) -> torch.Tensor:
        dataset = self.dataset(split)
        return torch.stack([dataset[i][0] for i in indices])

    @torch.no_grad()
    def mu(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encode(x)[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> np.ndarray:
        return self.model.decode(z)[:, 0].numpy().astype(np.float64)


@pytest.fixture(scope="module")
def tiny(tiny_run) -> Tiny:
    return Tiny(tiny_run)


def assert_tiles(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    assert np.abs(actual - expected).max() <= TOLERANCE


def test_reconstruct(tiny, tmp_path):
    out = tmp_path / "recon.png"
    assert main(["reconstruct", str(tiny.run), "--n", "6", "--nrow", "3", "--seed", "2",
                 "-o", str(out), "--quiet"]) == 0  # fmt: skip
    indices = chosen(len(tiny.dataset("test")), 6, seed=2)
    inputs = tiny.images("test", indices)
    recon = tiny.decode(tiny.mu(inputs))
    grid = tiles(out)
    assert_tiles(grid[[0, 2]].reshape(6, SIZE, SIZE), inputs[:, 0].double().numpy())
    assert_tiles(grid[[1, 3]].reshape(6, SIZE, SIZE), recon)


def test_sample(tiny, tmp_path):
    out = tmp_path / "samples.png"
    assert main(["sample", str(tiny.run), "--n", "4", "--temperature", "0.4", "--seed", "3",
                 "--sampler", "standard", "-o", str(out)]) == 0  # fmt: skip
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(3)) * 0.4
    assert_tiles(tiles(out)[0], tiny.decode(z))


def test_sample_from_the_fitted_prior(tiny, tmp_path):
    from dfcvae.analysis.latent_prior import PRIOR_FILE, read_prior

    out = tmp_path / "fitted.png"
    assert main(["sample", str(tiny.run), "--n", "4", "--temperature", "0.4", "--seed", "3",
                 "--sampler", "fitted", "-o", str(out)]) == 0  # fmt: skip
    prior, _ = read_prior(Path(tiny.run) / PRIOR_FILE)
    # the mixture drawn by hand: a component by weight, then mean + T * L eps
    generator = torch.Generator().manual_seed(3)
    component = torch.multinomial(prior.weights, 4, replacement=True, generator=generator)
    eps = torch.randn(4, 16, generator=generator, dtype=torch.float64)
    offsets = torch.einsum("nij,nj->ni", prior.cholesky[component], eps)
    z = (prior.means[component] + 0.4 * offsets).float()
    assert_tiles(tiles(out)[0], tiny.decode(z))


def great_circle(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Slerp written out: equal angles between the unit codes, norms interpolated linearly."""
    unit_a, unit_b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    omega = math.acos(np.clip(unit_a @ unit_b, -1, 1))
    points = []
    for t in np.linspace(0, 1, steps):
        direction = (math.sin((1 - t) * omega) * unit_a + math.sin(t * omega) * unit_b) / math.sin(
            omega
        )
        points.append(direction * ((1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b)))
    return np.stack(points)


@pytest.mark.parametrize("spherical", [True, False], ids=["slerp", "linear"])
def test_interpolate_between_random_codes(tiny, tmp_path, spherical):
    out = tmp_path / "interpolation.png"
    argv = ["interpolate", str(tiny.run), "--rows", "2", "--steps", "5", "--seed", "5",
            "--temperature", "3", "--sampler", "standard", "-o", str(out)]  # fmt: skip
    argv += ["--spherical"] if spherical else []
    assert main(argv) == 0
    codes = torch.randn(4, 16, generator=torch.Generator().manual_seed(5)).double().numpy() * 3
    grid = tiles(out)
    assert grid.shape[:2] == (2, 5)
    for row in range(2):
        left, right = codes[2 * row], codes[2 * row + 1]  # pairs of consecutive draws
        linear = np.stack([(1 - t) * left + t * right for t in np.linspace(0, 1, 5)])
        spherical_path = great_circle(left, right, 5)
        path, other = (spherical_path, linear) if spherical else (linear, spherical_path)
        assert_tiles(grid[row], tiny.decode(torch.from_numpy(path).float()))
        unexpected = tiny.decode(torch.from_numpy(other).float())
        assert np.abs(grid[row] - unexpected).max() > 2 * TOLERANCE  # the two paths differ


def test_random_interpolation_endpoints_come_from_the_fitted_prior_by_default(tiny, tmp_path):
    from dfcvae.analysis.latent_prior import PRIOR_FILE, read_prior

    out = tmp_path / "interpolation.png"
    argv = ["interpolate", str(tiny.run), "--rows", "2", "--steps", "3", "--seed", "5",
            "--temperature", "0.5", "-o", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    prior, _ = read_prior(Path(tiny.run) / PRIOR_FILE)
    codes = prior.draw(4, 0.5, torch.Generator().manual_seed(5)).double().numpy()
    standard = torch.randn(4, 16, generator=torch.Generator().manual_seed(5)).double().numpy()
    grid = tiles(out)
    for row in range(2):
        for pairs, match in ((codes, True), (standard * 0.5, False)):
            left, right = pairs[2 * row], pairs[2 * row + 1]
            linear = np.stack([(1 - t) * left + t * right for t in np.linspace(0, 1, 3)])
            expected = tiny.decode(torch.from_numpy(linear).float())
            assert (np.abs(grid[row] - expected).max() <= TOLERANCE) == match


def test_interpolate_between_test_images(tiny, tmp_path):
    out = tmp_path / "interpolation.png"
    assert main(["interpolate", str(tiny.run), "--left", "0", "1", "--right", "2", "3",
                 "--steps", "4", "-o", str(out)]) == 0  # fmt: skip
    mu = tiny.mu(tiny.images("test", [0, 1, 2, 3]))
    grid = tiles(out)
    for row, (left, right) in enumerate([(0, 2), (1, 3)]):
        path = torch.stack([(1 - t) * mu[left] + t * mu[right] for t in (0, 1 / 3, 2 / 3, 1)])
        assert_tiles(grid[row], tiny.decode(path))


@pytest.fixture(scope="module")
def vectors_file(tiny, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("vectors") / "vectors.safetensors"
    code = main(["attribute-vectors", str(tiny.run), "--limit", "200", "-o", str(out), "--quiet"])
    assert code == 0
    return out


def read_vectors(path: Path) -> dict[str, np.ndarray]:
    with safe_open(str(path), framework="np") as file:
        return {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118


def test_attribute_vectors_are_class_mean_differences(tiny, vectors_file, capsys):
    dataset = tiny.dataset("train", limit=200)
    x = torch.stack([dataset[i][0] for i in range(len(dataset))])
    mu = tiny.mu(x).double().numpy()
    labels = np.asarray(dataset.labels)
    vectors = read_vectors(vectors_file)
    present = sorted(set(labels.tolist()))
    assert len(vectors) == len(present) >= 9
    for k in present:
        name = dataset.label_names[k]
        expected = mu[labels == k].mean(0) - mu[labels != k].mean(0)
        np.testing.assert_allclose(vectors[name], expected, rtol=1e-4, atol=1e-5)


def test_edit_adds_the_vector_at_each_strength(tiny, vectors_file, tmp_path, capsys):
    out = tmp_path / "edit.png"
    assert main(["edit", str(tiny.run), "--attribute", "Trouser", "--vectors", str(vectors_file),
                 "--strength", "-1..2", "--strength-steps", "4", "--n", "2", "-o", str(out),
                 "--quiet"]) == 0  # fmt: skip
    assert "strengths: -1, 0, 1, 2" in capsys.readouterr().out
    indices = chosen(len(tiny.dataset("test")), 2)
    inputs = tiny.images("test", indices)
    mu = tiny.mu(inputs)
    vector = torch.from_numpy(read_vectors(vectors_file)["Trouser"])
    grid = tiles(out)
    assert grid.shape[:2] == (2, 5)
    assert_tiles(grid[:, 0], inputs[:, 0].double().numpy())
    for column, strength in enumerate([-1.0, 0.0, 1.0, 2.0], start=1):
        assert_tiles(grid[:, column], tiny.decode(mu + strength * vector))


def test_attribute_correlation_writes_the_cosine_matrix(tiny, vectors_file, tmp_path):
    out = tmp_path / "correlation.png"
    assert main(["attribute-correlation", str(tiny.run), "--vectors", str(vectors_file),
                 "-o", str(out)]) == 0  # fmt: skip
    assert Image.open(out).size[0] > 100
    with out.with_suffix(".csv").open() as file:
        rows = list(csv.reader(file))
    names = rows[0][1:]
    matrix = np.array([[float(v) for v in row[1:]] for row in rows[1:]])
    vectors = read_vectors(vectors_file)
    assert names == [row[0] for row in rows[1:]] and set(names) == set(vectors)
    assert names[:2] == ["T-shirt/top", "Trouser"]  # the data set's order, not sorted
    unit = np.stack([vectors[n] / np.linalg.norm(vectors[n]) for n in names]).astype(np.float64)
    np.testing.assert_allclose(matrix, unit @ unit.T, atol=2e-6)


def test_predict_attributes_table_and_csv(tiny, tmp_path, capsys):
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    out = tmp_path / "predictions.csv"
    assert main(["predict-attributes", str(tiny.run), "--limit", "200", "--cs", "0.1,1",
                 "-o", str(out), "--quiet"]) == 0  # fmt: skip
    table = capsys.readouterr().out
    with out.open() as file:
        rows = list(csv.DictReader(file))
    kinds = [row["kind"] for row in rows]
    assert kinds == ["attribute"] * 10 + ["mean", "multiclass", "reference"]
    splits = {}
    for split in ("train", "valid", "test"):
        dataset = tiny.dataset(split, limit=200)
        x = torch.stack([dataset[i][0] for i in range(len(dataset))])
        splits[split] = (tiny.mu(x).double().numpy(), np.asarray(dataset.labels))
    test_labels = splits["test"][1]
    names = tiny.dataset("test").label_names
    for k, row in enumerate(rows[:10]):
        assert row["attribute"] == names[k]
        # One-vs-rest: the train majority is "not this class", right on every other test image.
        assert float(row["majority_baseline"]) == pytest.approx(np.mean(test_labels != k))
        assert 0.0 <= float(row["accuracy"]) <= 1.0
        line = next(line for line in table.splitlines() if line.startswith(names[k] + " "))
        assert f"{100 * float(row['accuracy']):.2f}%" in line
    accuracies = [float(row["accuracy"]) for row in rows[:10]]
    assert float(rows[10]["accuracy"]) == pytest.approx(np.mean(accuracies))
    multiclass = rows[11]
    counts = np.bincount(splits["train"][1], minlength=10)
    assert float(multiclass["majority_baseline"]) == pytest.approx(
        np.mean(test_labels == np.argmax(counts))
    )
    scaler = StandardScaler().fit(splits["train"][0])
    svm = LinearSVC(C=float(multiclass["C"]), max_iter=5000, random_state=0)
    svm.fit(scaler.transform(splits["train"][0]), splits["train"][1])
    expected = svm.score(scaler.transform(splits["test"][0]), test_labels)
    assert float(multiclass["accuracy"]) == pytest.approx(expected)
    assert expected > float(multiclass["majority_baseline"]) + 0.2  # the codes carry the class
    assert float(rows[12]["accuracy"]) == pytest.approx(0.8695)


def test_tsne_embeds_the_chosen_images_coloured_by_their_class(tiny, tmp_path, monkeypatch):
    import dfcvae.report.artifacts as artifacts

    seen = {}
    real_figure = artifacts.tsne_figure

    def capture(points, values, names, title):
        seen.update(points=points, values=values, names=names)
        return real_figure(points, values, names, title)

    monkeypatch.setattr(artifacts, "tsne_figure", capture)
    out = tmp_path / "tsne.png"
    assert main(["tsne", str(tiny.run), "--n", "120", "--perplexity", "10", "--seed", "1",
                 "-o", str(out), "--quiet"]) == 0  # fmt: skip
    assert Image.open(out).size[0] > 100
    dataset = tiny.dataset("test")
    indices = chosen(len(dataset), 120, seed=1)
    np.testing.assert_array_equal(seen["values"], np.asarray(dataset.labels)[indices])
    assert seen["names"][:2] == ["T-shirt/top", "Trouser"]
    points = seen["points"]
    assert points.shape == (120, 2)
    # Neighbours in the embedding share a class far more often than chance (1 in 10).
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    nearest = distances.argmin(1)
    assert np.mean(seen["values"][nearest] == seen["values"]) > 0.35


# --- evaluate and report on two runs --------------------------------------------------------


@pytest.fixture(scope="module")
def two_runs(tiny_run, tmp_path_factory) -> list[Path]:
    """The tiny PVAE and a copy with a perturbed decoder: the copy reconstructs worse."""
    other = perturbed_copy(tiny_run, tmp_path_factory.mktemp("runs") / "perturbed", 0.3, seed=1)
    return [Path(tiny_run), other]


def independent_per_image(run: Path, indices: list[int]) -> dict[str, np.ndarray]:
    """MSE, PSNR, SSIM and sharpness of a run's reconstructions of the chosen test images."""
    tiny = Tiny(run)
    x = tiny.images("test", indices)
    recon = tiny.decode(tiny.mu(x))
    target = x[:, 0].double().numpy()
    mse = ((recon - target) ** 2).reshape(len(indices), -1).mean(1)
    ssim = [ssim_by_hand(t, r) for t, r in zip(target, recon)]
    sharpness = [ndimage.laplace(r, mode="mirror").var() for r in recon]
    originals = [ndimage.laplace(t, mode="mirror").var() for t in target]
    return {"mse": mse, "psnr": 10 * np.log10(1 / mse), "ssim": np.array(ssim),
            "sharpness_reconstructions": np.array(sharpness),
            "originals": np.array(originals)}  # fmt: skip


@pytest.fixture(scope="module")
def evaluated(two_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate") / "metrics.json"
    argv = ["evaluate", *map(str, two_runs), "--n", "24", "--seed", "4", "--no-lpips",
            "--feature-space", "mobilenet_v2", "-o", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    return out, json.loads(out.read_text())


def test_evaluate_per_image_values_and_their_pairing(two_runs, evaluated):
    _, metrics = evaluated
    tiny = Tiny(two_runs[0])
    indices = chosen(len(tiny.dataset("test")), 24, seed=4)
    assert metrics["indices"] == indices
    names = [path.name for path in two_runs]
    expected = {name: independent_per_image(path, indices) for name, path in zip(names, two_runs)}
    for name in names:
        got = metrics["per_image"][name]
        np.testing.assert_allclose(got["mse"], expected[name]["mse"], rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(got["psnr"], expected[name]["psnr"], rtol=1e-4)
        np.testing.assert_allclose(got["ssim"], expected[name]["ssim"], rtol=1e-3, atol=1e-6)
        key = "sharpness_reconstructions"
        np.testing.assert_allclose(got[key], expected[name][key], rtol=1e-3)
        result = metrics["runs"][name]
        assert result["mse"]["mean"] == pytest.approx(expected[name]["mse"].mean(), rel=1e-4)
        assert result["mse"]["std"] == pytest.approx(expected[name]["mse"].std(ddof=1), rel=1e-3)
    np.testing.assert_allclose(metrics["per_image"]["originals"]["sharpness"],
                               expected[names[0]]["originals"], rtol=1e-6)  # fmt: skip
    tests = {(t["metric"], t["a"], t["b"]): t for t in metrics["t_tests"]}
    for metric in ("mse", "psnr", "sharpness_reconstructions"):
        reference = ttest_rel(expected[names[0]][metric], expected[names[1]][metric])
        test = tests[(metric, *names)]
        assert test["test"] == "paired" and test["n"] == 24
        assert test["t"] == pytest.approx(reference.statistic, rel=1e-3)
        assert test["p"] == pytest.approx(reference.pvalue, rel=1e-2, abs=1e-12)
    assert tests[("mse", *names)]["mean_difference"] < 0  # the perturbed decoder is worse
    original = tests[("sharpness_reconstructions", names[0], "originals")]
    reference = ttest_rel(expected[names[0]]["sharpness_reconstructions"],
                          expected[names[0]]["originals"])  # fmt: skip
    assert original["t"] == pytest.approx(reference.statistic, rel=1e-3)


def test_evaluate_prints_a_table_of_the_values_it_wrote(two_runs, tmp_path, capsys):
    out = tmp_path / "m.json"
    argv = ["evaluate", *map(str, two_runs), "--n", "8", "--no-lpips", "--feature-space",
            "classifier", "-o", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    metrics = json.loads(out.read_text())
    for name, result in metrics["runs"].items():
        line = next(line for line in printed.splitlines() if line.startswith(name + " "))
        assert f"{result['mse']['mean']:.4g}" in line and f"{result['ssim']['mean']:.4g}" in line
    assert f"{metrics['originals']['sharpness']['mean']:.4g}" in printed
    assert "unavailable: frechet_classifier:" in printed
    assert printed.count(" vs ") == len(metrics["t_tests"])


def test_report_shows_the_evaluated_values_and_names_the_winner(two_runs, evaluated, tmp_path):
    """The report's metrics are ``evaluate``'s at the same settings, and its page shows them."""
    _, metrics = evaluated
    out = tmp_path / "report.html"
    settings = "--n-eval 24 --seed 4 --feature-space mobilenet_v2 --n-grid 4 --n-tsne 30"
    assert main(["report", *map(str, two_runs), "-o", str(out), *settings.split(), "--quiet"]) == 0
    html = out.read_text()
    shown = json.loads((tmp_path / "report_files" / "metrics.json").read_text())
    for name in shown["runs"]:
        assert shown["per_image"][name]["mse"] == metrics["per_image"][name]["mse"]
    good, poor = (path.name for path in two_runs)
    mse = {name: metrics["runs"][name]["mse"]["mean"] for name in (good, poor)}
    assert mse[good] < mse[poor]
    assert f'<td class="best">{mse[good]:.4g}</td>' in html
    assert f"<td>{mse[poor]:.4g}</td>" in html
    test = next(t for t in metrics["t_tests"] if t["metric"] == "mse" and t["b"] == poor)
    assert test["p"] < 0.05
    assert f"<b>{good}</b> beats {poor} on reconstruction mean squared error" in html
