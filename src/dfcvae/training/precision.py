"""``--precision auto``: the precision the Trainer uses, chosen from what the hardware computes
natively (docs/benchmarks.md, "Precision")."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from dfcvae.errors import ConfigError

# CPU flags (/proc/cpuinfo) whose instructions compute bf16 products natively, which oneDNN uses
# for bf16 convolutions and matrix multiplies: AMX tiles (Intel Sapphire Rapids and later) and
# AVX512-BF16 dot products (Intel Cooper Lake, AMD Zen 4 and later).
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none: not Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_supports_bf16(flags: set[str] | None = None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def choose_precision(cpu_flags: set[str], cuda_capability: tuple[int, int] | None) -> str:
    """What ``--precision auto`` trains in: bf16 only where the hardware computes it natively
    and it is faster than fp32 (docs/benchmarks.md, "Precision").

    - A CUDA GPU (``cuda_capability`` not None): compute capability 8.0 or more (A100, H100,
      RTX 30xx and later: bf16 tensor cores) -> ``bf16-mixed``; 7.x (V100, T4, RTX 20xx: fp16
      tensor cores, no bf16) -> ``16-mixed`` with its loss scaler; older -> ``32-true``.
    - A CPU with ``amx_bf16`` or ``avx512_bf16`` -> ``bf16-mixed`` (on AMD Zen 4 the VAE-123 step
      is about 1.5x faster than in fp32); any other CPU -> ``32-true``: there torch emulates
      bf16, and a bf16 step is 15-20x slower than fp32 (measured on AMD Zen 3, AVX2).
    """
    if cuda_capability is not None:
        if cuda_capability >= (8, 0):
            return "bf16-mixed"
        return "16-mixed" if cuda_capability >= (7, 0) else "32-true"
    return "bf16-mixed" if cpu_supports_bf16(cpu_flags) else "32-true"


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto``: ``choose_precision`` for the device the Trainer will use; else ``precision``."""
    if precision != "auto":
        return precision
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return choose_precision(cpu_flags(), torch.cuda.get_device_capability())
    return choose_precision(cpu_flags(), None)


def hardware_problem(
    precision: str,
    on_cuda: bool,
    cpu_flags: set[str],
    cuda_capability: tuple[int, int] | None,
) -> str | None:
    """Why this machine cannot train in ``precision`` (already resolved from ``auto``), or None.

    bf16 needs hardware that computes it: a GPU of compute capability 8.0 or more, or a CPU with
    ``amx_bf16`` or ``avx512_bf16``. Elsewhere torch emulates it 15-20x slower than fp32 (AMD
    Zen 3) or not at all (GPUs before Ampere). A CPU whose flags cannot be read (not Linux, or
    an Arm ``Features`` line) is given the benefit of the doubt.
    """
    if not precision.startswith("bf16"):
        return None
    if on_cuda:
        if cuda_capability is not None and cuda_capability < (8, 0):
            major, minor = cuda_capability
            return (
                f"this GPU (compute capability {major}.{minor}) has no bf16 arithmetic; "
                "use --precision 16-mixed, 32-true or auto"
            )
        return None
    if cpu_flags and not cpu_supports_bf16(cpu_flags):
        return (
            "this CPU has no bf16 instructions (neither avx512_bf16 nor amx_bf16), so torch would "
            "emulate bf16 about 15-20x slower than fp32; use --precision 32-true or auto"
        )
    return None


def check_hardware(precision: str, accelerator: str, devices: str = "auto") -> str:
    """``precision`` resolved from ``auto`` for ``accelerator``; a GPU asked for where torch sees
    none, or a precision the hardware cannot compute (``hardware_problem``), is one line."""
    cuda = torch.cuda.is_available()
    if accelerator in ("gpu", "cuda") and not cuda:
        raise ConfigError(
            f"--accelerator {accelerator} --devices {devices}: torch sees no CUDA GPU on this "
            "machine; use --accelerator cpu (or auto)"
        )
    resolved = resolve_precision(precision, accelerator)
    on_cuda = cuda and accelerator in ("gpu", "cuda", "auto")
    capability = torch.cuda.get_device_capability() if on_cuda else None
    problem = hardware_problem(resolved, on_cuda, cpu_flags(), capability)
    if problem:
        raise ConfigError(f"--precision {resolved}: {problem}")
    return resolved


DEVICES = re.compile(r"^(auto|-1|\d+|\d+(,\d+)*,?)$")


def check_devices(devices: str, strategy: str) -> None:
    """``--devices`` and ``--strategy`` in the forms Lightning takes, else one line of ours
    (Lightning's own messages name its internals: "`devices` selected with `CPUAccelerator`")."""
    if not DEVICES.match(str(devices).replace(" ", "")):
        raise ConfigError(
            f"--devices {devices}: use auto, a count (e.g. 2, or -1 for all) or GPU indices "
            "like 0,1"
        )
    from lightning.pytorch.strategies import StrategyRegistry

    known = ["auto", *StrategyRegistry.available_strategies()]
    if strategy not in known:
        common = ("auto", "ddp", "ddp_spawn", "ddp_fork", "fsdp", "deepspeed", "single_device")
        shown = [name for name in common if name in known]
        raise ConfigError(
            f"--strategy {strategy}: choose one of {', '.join(shown)} (or another of "
            "Lightning's registered strategies)"
        )
