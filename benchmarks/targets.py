"""What `make bench` measures against: the presets it runs, the targets its headline checks and
the parity tolerances. Read by run.py (which measures) and report.py (which writes the verdicts)."""

from __future__ import annotations

PRESETS = ("pvae", "vae-123", "vae-345")
TARGET_PRESET = "vae-123"
# CelebA's official partition (list_eval_partition.txt): train / valid / test images.
CELEBA_TRAIN = 162_770

# The step's speedup over the naive reference depends on the CPU's family: with bf16
# instructions (avx512-bf16, AMX) 8x; with AVX2 only, where a step can go no faster than fp32
# allows, 2.4x (about 75% of that bound: docs/benchmarks.md).
TARGET_SPEEDUP = {"amx-bf16": 8.0, "avx512-bf16": 8.0, "gpu": 8.0}
TARGET_SPEEDUP_FP32_CPU = 2.4
TARGET_PEAK_FRACTION = 0.6
TARGET_DATA_RATIO = 5.0
TARGET_RSS_BYTES = 4 * 10**9
PARITY_TOLERANCE = {"32-true": 5e-3, "bf16-mixed": 5e-2, "16-mixed": 5e-2}
