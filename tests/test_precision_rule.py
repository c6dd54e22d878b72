"""``--precision auto``: bf16 only where the hardware computes it natively (the rule in
``training.precision.choose_precision``, documented in docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from dfcvae.training.precision import choose_precision, cpu_flags, resolve_precision

ZEN3 = {"fpu", "sse2", "avx", "avx2", "fma"}  # AMD EPYC Zen 3: AVX2, no bf16
ZEN4 = ZEN3 | {"avx512f", "avx512bw", "avx512_bf16"}
SAPPHIRE_RAPIDS = ZEN3 | {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}


@pytest.mark.parametrize(
    ("flags", "capability", "expected"),
    [
        (ZEN3, None, "32-true"),
        (ZEN3 | {"avx512f"}, None, "32-true"),  # AVX-512 without its bf16 extension
        (ZEN4, None, "bf16-mixed"),
        (SAPPHIRE_RAPIDS, None, "bf16-mixed"),
        (ZEN3, (9, 0), "bf16-mixed"),  # H100, H200
        (ZEN3, (8, 0), "bf16-mixed"),  # A100
        (ZEN4, (7, 5), "16-mixed"),  # T4: fp16 tensor cores, no bf16 (whatever the CPU)
        (ZEN3, (7, 0), "16-mixed"),  # V100
        (SAPPHIRE_RAPIDS, (6, 1), "32-true"),  # Pascal: no tensor cores
    ],
)
def test_choose_precision(flags: set[str], capability, expected: str) -> None:
    assert choose_precision(flags, capability) == expected


def test_an_explicit_precision_is_kept_and_auto_on_cpu_follows_this_cpu() -> None:
    assert resolve_precision("16-mixed", "cpu") == "16-mixed"
    native = bool({"amx_bf16", "avx512_bf16"} & cpu_flags())
    assert resolve_precision("auto", "cpu") == ("bf16-mixed" if native else "32-true")
