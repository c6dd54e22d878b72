"""Parse time of CelebA's attribute and partition lists at full size (202,599 images), in both
layouts (torchvision's .txt, Kaggle's .csv). Target: under 2 s for the attribute file.

    PYTHONPATH=src .venv/bin/python benchmarks/celeba_lists.py [--repeats 5]

The lists are generated (tests/data_fixtures.py) in a temporary folder; prints JSON with the
median and best seconds of ``read_attributes`` and of ``split_labels`` (both files, all checks,
the train split), and the machine's load, since timings taken on a shared machine mean little.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.data_fixtures

from tests.data_fixtures import (  # noqa: E402
    CELEBA_LAYOUTS,
    celeba_files,
    write_full_size_celeba_lists,
)

from common import machine_load  # noqa: E402
from dfcvae.data.celeba_files import read_attributes, split_labels  # noqa: E402

TARGET_SECONDS = 2.0


def seconds(fn, repeats: int) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(times), 3), "best_s": round(min(times), 3)}


def measure(repeats: int) -> dict:
    results: dict = {"target_s": TARGET_SECONDS, "load": machine_load()}
    with tempfile.TemporaryDirectory() as folder:
        for layout in CELEBA_LAYOUTS:
            base = Path(folder) / layout
            write_full_size_celeba_lists(base, layout)
            attributes, partition = celeba_files(base, layout)
            parse = seconds(partial(read_attributes, attributes), repeats)
            split = seconds(partial(split_labels, attributes, partition, "train"), repeats)
            results[layout] = {
                "attribute_file": attributes.name,
                "read_attributes": parse,
                "split_labels": split,
                "met": parse["median_s"] < TARGET_SECONDS,
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    print(json.dumps(measure(parser.parse_args().repeats), indent=2))


if __name__ == "__main__":
    main()
