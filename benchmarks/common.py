"""What every benchmark needs: the machine's description, a clock that notices when other
processes share the CPU, medians, the matrix-multiply peak and peak memory."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess

import torch

from dfcvae.training.precision import cpu_flags


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_identity() -> dict[str, str | int]:
    """vendor_id, cpu family and model from /proc/cpuinfo (empty where there is none)."""
    found: dict[str, str | int] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key in ("vendor_id", "cpu family", "model") and key not in found:
                found[key] = int(value) if value.isdigit() else value
            if not line.strip() and found:
                break
    except OSError:
        pass
    return found


def cpu_family(identity: dict[str, str | int], flags: set[str]) -> str:
    """A name for the CPU's family, from its vendor, family and model numbers (AMD) or its
    flags (Intel): what decides which kernels torch runs and which targets apply."""
    vendor, family, model = (identity.get(k) for k in ("vendor_id", "cpu family", "model"))
    if vendor == "AuthenticAMD" and isinstance(family, int) and isinstance(model, int):
        if family == 26:
            name = "Zen 5"
        elif family == 25:
            zen4 = 0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF
            name = "Zen 4" if zen4 else "Zen 3"
        elif family == 23:
            name = "Zen 2" if model >= 0x30 else "Zen / Zen+"
        else:
            name = f"family {family}"
        return f"AMD {name} (cpu family {family}, model {model})"
    if vendor == "GenuineIntel":
        name = "with AMX" if "amx_bf16" in flags else "with AVX-512" if "avx512f" in flags else ""
        return f"Intel {name} (cpu family {family}, model {model})".replace("  ", " ")
    return str(vendor or platform.machine())


def isa_class(flags: set[str]) -> str:
    """The widest instructions that matter here: amx-bf16, avx512-bf16, avx512, avx2, other."""
    for flag, name in (("amx_bf16", "amx-bf16"), ("avx512_bf16", "avx512-bf16"),
                       ("avx512f", "avx512"), ("avx2", "avx2")):  # fmt: skip
        if flag in flags:
            return name
    return "other"


RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_bf16",
                  "amx_tile")  # fmt: skip


def machine(device: torch.device) -> dict[str, str | int]:
    from dfcvae.training.precision import resolve_precision

    flags = cpu_flags()
    bf16 = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    info: dict[str, str | int] = {
        "cpu": cpu_model(),
        "cpu_family": cpu_family(cpu_identity(), flags),
        "isa": isa_class(flags),
        "cpu_flags": " ".join(f for f in RELEVANT_FLAGS if f in flags)
        or "none of " + ", ".join(RELEVANT_FLAGS),
        "auto_precision": resolve_precision("auto", "gpu" if device.type == "cuda" else "cpu"),
        "cores": os.cpu_count() or 0,
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16": ", ".join(bf16) or "none (no amx_bf16, no avx512_bf16)",
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores, any priority), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU seconds of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Interval:
    seconds: float
    own_cores: float  # cores this process kept busy, on average
    other_cores: float  # cores the rest of the machine kept busy, on average


class Clock:
    """``with Clock(device) as c: ...`` then ``c.interval``: wall seconds (CUDA synchronised),
    and how many cores this process and the rest of the machine kept busy meanwhile (the
    machine is shared: the report shows how much of it others took)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def __enter__(self) -> Clock:
        if self.cuda:
            torch.cuda.synchronize()
        self._busy, self._own, self._wall = _busy_seconds(), _own_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - self._wall
        own = _own_seconds() - self._own
        others = max(0.0, _busy_seconds() - self._busy - own)
        self.interval = Interval(wall, own / wall, others / wall)


@dataclass
class Samples:
    """Timed repetitions of one thing; the statistic is the median."""

    intervals: list[Interval] = field(default_factory=list)

    def add(self, interval: Interval) -> None:
        self.intervals.append(interval)

    @property
    def median(self) -> float:
        return statistics.median(i.seconds for i in self.intervals)

    def summary(self) -> dict[str, float | int]:
        return {
            "median_s": self.median,
            "min_s": min(i.seconds for i in self.intervals),
            "samples": len(self.intervals),
            "own_cores": statistics.median(i.own_cores for i in self.intervals),
            "other_cores": statistics.median(i.other_cores for i in self.intervals),
        }


def repeat(fn, device: torch.device, count: int) -> Samples:
    """Time ``fn()`` ``count`` times."""
    samples = Samples()
    for _ in range(count):
        with Clock(device) as clock:
            fn()
        samples.add(clock.interval)
    return samples


def fastest_rate(
    fn, flops: float, device: torch.device, wanted: int
) -> tuple[float, Interval, float]:
    """GFLOP/s of ``fn`` (``flops`` a call) over its fastest of ``wanted`` samples, each of
    about half a second of calls (one short call alone is too noisy a sample), after one
    warm-up call (library initialisation, kernel selection). Also that fastest sample and the
    seconds one call took first, which tells a slow (emulated) dtype."""
    fn()
    with Clock(device) as clock:
        fn()
    reps = max(1, min(20, int(0.5 / max(clock.interval.seconds, 1e-6))))

    def run() -> None:
        for _ in range(reps):
            fn()

    fastest = min(repeat(run, device, wanted).intervals, key=lambda i: i.seconds)
    return flops * reps / fastest.seconds / 1e9, fastest, clock.interval.seconds


def matmul_peak(dtype: torch.dtype, device: torch.device, wanted: int = 10) -> dict[str, float]:
    """Measured GFLOP/s of square matrix multiplies: the best sample at the best size (up to
    8192 on GPU, 2048 on CPU). A peak is a best case, so this takes the fastest sample rather
    than the median; the size grows while one product takes under 0.2 s, so that a slow
    (emulated) dtype is not timed for minutes."""
    best: dict[str, float] = {"gflops": 0.0, "n": 0}
    top = 8192 if device.type == "cuda" else 2048
    n = 256
    while n <= top:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        gflops, fastest, first = fastest_rate(lambda a=a, b=b: a @ b, 2 * n**3, device, wanted)
        if gflops > best["gflops"]:
            best = {"gflops": gflops, "n": n, "other_cores": fastest.other_cores}
        if first > 0.2:
            break
        n *= 2
    return best


def conv_peak(dtype: torch.dtype, device: torch.device, wanted: int = 5) -> dict[str, float]:
    """Measured GFLOP/s of the 3x3 convolutions a VGG loss network runs (channels-last, batch
    64: 64 channels at 64x64, 128 at 32x32, 256 at 16x16), the best sample (``fastest_rate``).
    On CPUs torch's fp32 matmul (MKL or OpenBLAS) can be slower than oneDNN's convolutions, so a
    matmul alone would put a convolution-bound step above 100% of its "peak"; the report uses
    the higher of the two.
    """
    import torch.nn.functional as F

    best: dict[str, float] = {"gflops": 0.0, "channels": 0}
    for channels, size in ((64, 64), (128, 32), (256, 16)):
        x = torch.randn(64, channels, size, size, device=device, dtype=dtype)
        w = torch.randn(channels, channels, 3, 3, device=device, dtype=dtype)
        x, w = (t.contiguous(memory_format=torch.channels_last) for t in (x, w))
        flops = 2 * 64 * channels * channels * 9 * size * size
        conv = lambda x=x, w=w: F.conv2d(x, w, padding=1)  # noqa: E731
        gflops, fastest, first = fastest_rate(conv, flops, device, wanted)
        if gflops > best["gflops"]:
            best = {"gflops": gflops, "channels": channels, "other_cores": fastest.other_cores}
        if first > 2.0:  # emulated (bf16 without bf16 instructions): one size is enough
            break
    return best


def peak_memory_bytes(device: torch.device) -> int:
    """Peak resident set of this process (CPU) or peak allocated GPU memory (CUDA)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes(kind: str = "VmRSS") -> int:
    """This process's resident memory now: ``VmRSS`` (all), ``RssAnon`` (its own heap and
    stacks) or ``RssFile`` (mapped file pages: shared page cache the kernel can drop)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(kind + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def raise_priority(nice: int) -> str:
    """Give this process's autogroup (its session: this process and its children) the nice
    value ``nice``. With autogroup scheduling (Linux's default) a process's own nice value only
    counts within its session; sessions share the CPU equally, so on a shared machine a
    benchmark gets half of it unless its session's weight is raised. Needs root for nice < 0."""
    path = Path("/proc/self/autogroup")
    try:
        path.write_text(str(nice))
        return path.read_text().strip()
    except OSError as error:
        return f"unchanged ({error.strerror})"


def machine_load() -> dict[str, float]:
    """Cores other processes kept busy over one second, and the load averages."""
    busy, own = _busy_seconds(), _own_seconds()
    time.sleep(1.0)
    others = max(0.0, _busy_seconds() - busy - (_own_seconds() - own))
    return {"other_cores": others, "loadavg_1min": os.getloadavg()[0]}


# glibc's allocator, as dfcvae's CPU training sets it (training.memory.keep_freed_memory) or as
# a default process has it once big blocks have been freed (mmap threshold grown to 32 MiB).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4


def set_allocator(keep_freed: bool) -> None:
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    if keep_freed:
        libc.mallopt(_M_MMAP_MAX, 0)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    else:
        libc.mallopt(_M_MMAP_MAX, 65536)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)


def child_result(done: CompletedProcess, tag: str, start: float) -> dict:
    """The JSON a benchmark child printed after ``tag``, with its wall time; else an error
    holding the last lines it wrote."""
    for line in done.stdout.splitlines():
        if line.startswith(tag):
            result = json.loads(line[len(tag) :])
            result["wall_s"] = time.perf_counter() - start
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"error": " | ".join(tail)}
