"""What every benchmark needs: the machine's description, a clock that notices when other
processes share the CPU, medians, the matrix-multiply peak and peak memory."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine(device: torch.device) -> dict[str, str | int]:
    flags = cpu_flags()
    bf16 = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    info: dict[str, str | int] = {
        "cpu": cpu_model(),
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
        a @ b  # warm-up (library initialisation, kernel selection)
        with Clock(device) as clock:
            a @ b  # a first estimate of the time per product
        reps = max(1, min(20, int(0.5 / max(clock.interval.seconds, 1e-6))))

        def run(a=a, b=b, reps=reps) -> None:
            for _ in range(reps):
                a @ b

        samples = repeat(run, device, wanted)
        fastest = min(samples.intervals, key=lambda i: i.seconds)
        gflops = 2 * n**3 * reps / fastest.seconds / 1e9
        if gflops > best["gflops"]:
            best = {"gflops": gflops, "n": n, "other_cores": fastest.other_cores}
        if clock.interval.seconds > 0.2:
            break
        n *= 2
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


# glibc's allocator, as dfcvae's CPU training sets it (training.train.keep_freed_memory) or as
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
