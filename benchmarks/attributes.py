"""``predict-attributes`` at CelebA's size: the linear SVMs on codes of CelebA's split sizes.

    .venv/bin/python benchmarks/attributes.py [--run RUN_DIR] [--liblinear-attributes 2]

- Generated codes: 162,770 / 19,867 / 19,962 codes (train / valid / test), 100-d, and 40 binary
  attributes from noisy linear scores with CelebA-like positive rates (2% to 80%). Times what
  ``predict_attributes`` does after encoding (``LinearSVMs``: standardise, X^T X once, then per
  attribute the path over C = 0.01, 0.1, 1, 10 and the pick on valid), in wall and CPU seconds.
- The earlier implementation (scikit-learn ``LinearSVC`` per attribute and C) on the first
  ``--liblinear-attributes`` attributes, for its time per attribute and the accuracies.
- ``--run``: a trained run with labels (e.g. Fashion-MNIST): both implementations on its real
  codes, attribute by attribute.

Prints one JSON object (also written to ``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SPLITS = {"train": 162_770, "valid": 19_867, "test": 19_962}
DIM, ATTRIBUTES = 100, 40
CS = (0.01, 0.1, 1.0, 10.0)
TARGET_SECONDS = 60.0


def generated_codes(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Codes (N, 100) ~ N(0, diag) and 40 attributes (N, 40) bool: each the sign of a sparse
    linear score plus noise, thresholded at a CelebA-like positive rate."""
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.3, 1.5, DIM)
    directions = rng.standard_normal((DIM, ATTRIBUTES)) * (rng.random((DIM, ATTRIBUTES)) < 0.2)
    noise = rng.uniform(0.5, 3.0, ATTRIBUTES)
    rates = rng.uniform(0.02, 0.8, ATTRIBUTES)
    out, thresholds = {}, None
    for name, n in SPLITS.items():
        x = rng.standard_normal((n, DIM)) * scales
        scores = x @ directions + noise * rng.standard_normal((n, ATTRIBUTES))
        if thresholds is None:
            thresholds = np.array(
                [np.quantile(scores[:, k], 1 - rates[k]) for k in range(ATTRIBUTES)]
            )
        out[name] = (x.astype(np.float32).astype(np.float64), scores > thresholds)
    return out


def liblinear_accuracy(train, valid, test, column: int, seed: int = 0) -> dict:
    """The earlier ``linear_svm_accuracy``: standardise, one ``LinearSVC`` per C, best on valid."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    scaler = StandardScaler().fit(train[0])
    xs = [scaler.transform(split[0]) for split in (train, valid, test)]
    ys = [split[1][:, column] if split[1].ndim == 2 else split[1] for split in (train, valid, test)]
    best = None
    for c in CS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            svm = LinearSVC(C=c, max_iter=5000, random_state=seed).fit(xs[0], ys[0])
        score = float(svm.score(xs[1], ys[1]))
        if best is None or score > best[0]:
            best = (score, c, svm)
    return {"accuracy": float(best[2].score(xs[2], ys[2])), "C": best[1]}


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def celeba_sized(liblinear_attributes: int) -> dict:
    from dfcvae.analysis.predict import LinearSVMs

    codes = generated_codes()
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = codes.values()

    def new() -> list[dict]:
        svms = LinearSVMs(train_x, valid_x, test_x)
        return [svms.accuracy(train_y[:, k], valid_y[:, k], test_y[:, k], CS)
                for k in range(ATTRIBUTES)]  # fmt: skip

    rows, wall, cpu = timed(new)
    result = {
        "splits": SPLITS,
        "dim": DIM,
        "attributes": ATTRIBUTES,
        "cs": CS,
        "seconds": wall,
        "cpu_seconds": cpu,
        "target_seconds": TARGET_SECONDS,
        "mean_accuracy": float(np.mean([r["accuracy"] for r in rows])),
    }
    if liblinear_attributes:
        old, old_wall, old_cpu = timed(
            lambda: [
                liblinear_accuracy(codes["train"], codes["valid"], codes["test"], k)
                for k in range(liblinear_attributes)
            ]  # fmt: skip
        )
        diffs = [abs(o["accuracy"] - n["accuracy"]) for o, n in zip(old, rows)]
        result["liblinear"] = {
            "attributes": liblinear_attributes,
            "seconds_per_attribute": old_wall / liblinear_attributes,
            "cpu_seconds_per_attribute": old_cpu / liblinear_attributes,
            "estimated_total_seconds": old_wall / liblinear_attributes * ATTRIBUTES,
            "max_accuracy_difference": max(diffs),
        }
    return result


def real_run(run: str) -> dict:
    """Both implementations on a trained run's codes, attribute by attribute."""
    from dfcvae.analysis.attributes import binary_labels
    from dfcvae.analysis.latents import encode_dataset
    from dfcvae.analysis.predict import LinearSVMs
    from dfcvae.analysis.runs import open_run

    opened = open_run(run, "cpu")
    splits = {}
    for split in SPLITS:
        dataset = opened.dataset(split, progress=False)
        mu = encode_dataset(opened.model, dataset, 256, False).numpy().astype(np.float64)
        splits[split] = (mu, binary_labels(dataset)[0], dataset)
    names = binary_labels(splits["train"][2])[1]
    svms = LinearSVMs(splits["train"][0], splits["valid"][0], splits["test"][0])
    per_attribute = []
    for k, name in enumerate(names):
        ys = [splits[s][1][:, k] for s in SPLITS]
        new = svms.accuracy(*ys, CS)
        old = liblinear_accuracy(*((splits[s][0], splits[s][1]) for s in SPLITS), column=k)
        per_attribute.append({"attribute": name, "liblinear": old["accuracy"],
                              "newton": new["accuracy"]})  # fmt: skip
    diffs = [abs(r["liblinear"] - r["newton"]) for r in per_attribute]
    return {
        "run": str(run),
        "dataset": opened.config.data.dataset,
        "n_train": len(splits["train"][0]),
        "per_attribute": per_attribute,
        "max_accuracy_difference": max(diffs),
        "mean_liblinear": float(np.mean([r["liblinear"] for r in per_attribute])),
        "mean_newton": float(np.mean([r["newton"] for r in per_attribute])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--liblinear-attributes", type=int, default=2)
    parser.add_argument("--run", help="a trained run with labels: compare on its real codes")
    parser.add_argument("--json", help="also write the result here")
    options = parser.parse_args(argv)
    result = {"celeba_sized": celeba_sized(options.liblinear_attributes)}
    if options.run:
        result["real"] = real_run(options.run)
    text = json.dumps(result, indent=1)
    if options.json:
        Path(options.json).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
