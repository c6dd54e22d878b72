"""The ceiling of a step built from the same kernels: the convolutions and matrix multiplies of
one dfcvae training step, recorded as they ran (shapes, dtypes, memory layouts, which gradients
each backward computes) and replayed back to back with nothing else between them.

A step that runs these kernels cannot be faster than the kernels alone, so the naive step's
time over the replay's bounds the speedup of any eager implementation that calls them: what is
left above it is the ReLUs, pools, losses, casts, batch norms and the optimizer, which eager
PyTorch runs as separate passes over memory. The replay's inputs are copies made once, so it
also pays no allocation; the bound is generous, never tight.

``python benchmarks/kernels.py [PRESET]`` lists the kernels one by one with their rates.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten
KERNELS = {
    aten.convolution.default,
    aten.convolution_backward.default,
    aten.mm.default,
    aten.addmm.default,
    aten.bmm.default,
}


def _copy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone(memory_format=torch.preserve_format)
    return value


@dataclass
class KernelCall:
    op: Any
    args: tuple
    kwargs: dict

    def __call__(self) -> None:
        self.op(*self.args, **self.kwargs)


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[KernelCall] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        if func in KERNELS:
            self.calls.append(KernelCall(func, tree_map(_copy, args), tree_map(_copy, kwargs)))
        return func(*args, **kwargs)


def record_kernels(step: Callable[[], object]) -> list[KernelCall]:
    """The convolution and matrix-multiply calls of one ``step()``, with copies of their inputs."""
    recorder = _Recorder()
    with recorder:
        step()
    return recorder.calls


def replay(calls: list[KernelCall]) -> None:
    for call in calls:
        call()


def kernel_flops(calls: list[KernelCall]) -> int:
    """FLOPs of the recorded kernels, counted as ``step_flops`` counts the whole step."""
    with FlopCounterMode(display=False) as counter:
        replay(calls)
    return counter.get_total_flops()


def kernel_table(calls: list[KernelCall], peak_gflops: float, repeats: int = 5) -> list[str]:
    """One markdown row per recorded kernel, slowest first: its median time over ``repeats``
    calls alone, its FLOPs, its rate, and the milliseconds it takes beyond ``peak_gflops``."""
    rows = []
    for call in calls:
        flops = kernel_flops([call])
        call()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        shapes = [tuple(a.shape) for a in call.args if isinstance(a, torch.Tensor)][:3]
        grads = f" {list(call.args[-1])}" if call.op is aten.convolution_backward.default else ""
        rows.append((seconds, flops, f"`{call.op.__name__}` {shapes}{grads}"))
    total_s, total_flops = sum(r[0] for r in rows), sum(r[1] for r in rows)
    lines = [
        f"All: {total_s * 1e3:.1f} ms, {total_flops / 1e9:.1f} GFLOP, "
        f"{total_flops / total_s / 1e9:.0f} GFLOP/s.",
        "",
        "| ms | GFLOP | GFLOP/s | ms beyond the peak | kernel (shapes; gradients) |",
        "|---|---|---|---|---|",
    ]
    for seconds, flops, name in sorted(rows, key=lambda r: -r[0]):
        beyond = (seconds - flops / peak_gflops / 1e9) * 1e3
        lines.append(
            f"| {seconds * 1e3:.2f} | {flops / 1e9:.2f} | {flops / seconds / 1e9:.0f} | "
            f"{beyond:.1f} | {name} |"
        )
    return lines
