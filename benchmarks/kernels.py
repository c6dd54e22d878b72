"""The kernels of one dfcvae training step, one by one: what each convolution and matrix
multiply takes alone, its rate, and its time beyond the peak (``ceiling.py`` records them).

    .venv/bin/python benchmarks/kernels.py [PRESET] [--peak GFLOPS]

64x64 RGB images, batch 64, what ``--precision auto`` picks, on CPU; prints a markdown table.
"""

from __future__ import annotations

import argparse

import torch

from ceiling import kernel_table
from dfcvae.training.memory import keep_freed_memory
from step import bench_config, step_kernels, synthetic_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", nargs="?", default="vae-123")
    parser.add_argument("--peak", type=float, default=951.0, help="the peak, GFLOP/s")
    args = parser.parse_args()
    keep_freed_memory()
    config = bench_config(args.preset)
    calls = step_kernels(config, torch.device("cpu"), synthetic_images(64, 3, 64))
    print("\n".join(kernel_table(calls, args.peak)))


if __name__ == "__main__":
    main()
