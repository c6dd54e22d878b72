"""Memory of caching a large folder of images, and of reading the cache with DataLoader workers.

    .venv/bin/python benchmarks/cache_memory.py --images 200000 --workdir /tmp/dfcvae-cache-memory

1. generate: ``--images`` small images (PNG and JPEG, 24 to 96 px a side, smooth colour fields)
   in folders of 1,000, written in parallel; not measured, and kept for the next run.
2. cache: a fresh process builds the train, valid and test caches of that folder at
   ``--image-size`` (what ``dfcvae train --dataset folder`` does) and reports its peak resident
   set (``ru_maxrss``, which counts pages of a memory map it has written, too) and its time.
3. workers: a fresh process reads the whole train cache once through the train DataLoader of
   ``DFCVAEDataModule`` with ``--workers`` workers, then reports RSS and PSS (proportional set
   size, from ``/proc/PID/smaps_rollup``) of itself and of each worker. Pages of the
   memory-mapped cache are shared: PSS divides them among the processes mapping them, so the
   file counts once in the total however many workers read it; a copy per worker would count
   ``workers + 1`` times. Also the size of the dataset as pickled for a worker.

Prints one JSON object and writes it to ``--out`` (default: WORKDIR/cache_memory.json).
docs/reliability.md records the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import time
import warnings
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

PER_FOLDER = 1000


def write_image(index: int, root: Path) -> None:
    rng = np.random.default_rng(index)
    width, height = (int(v) for v in rng.integers(24, 97, 2))
    corners = rng.integers(0, 256, (2, 2, 3)).astype(np.float32)
    ys, xs = np.linspace(0, 1, height)[:, None, None], np.linspace(0, 1, width)[None, :, None]
    top = corners[0, 0] * (1 - xs) + corners[0, 1] * xs
    bottom = corners[1, 0] * (1 - xs) + corners[1, 1] * xs
    pixels = (top * (1 - ys) + bottom * ys).astype(np.uint8)
    folder = root / f"{index // PER_FOLDER:04d}"
    if index % 2:
        Image.fromarray(pixels).save(folder / f"{index:07d}.jpg", quality=85)
    else:
        Image.fromarray(pixels).save(folder / f"{index:07d}.png")


def _write_range(job: tuple[int, int, str]) -> None:
    start, stop, root = job
    for index in range(start, stop):
        write_image(index, Path(root))


def generate(root: Path, count: int) -> float:
    """Write images 0..count-1 (those already there are kept); returns seconds taken."""
    marker = root / f".complete-{count}"
    if marker.exists():
        return 0.0
    started = time.perf_counter()
    for folder in range(0, count, PER_FOLDER):
        (root / f"{folder // PER_FOLDER:04d}").mkdir(parents=True, exist_ok=True)
    jobs = [(s, min(s + PER_FOLDER, count), str(root)) for s in range(0, count, PER_FOLDER)]
    with Pool(os.cpu_count()) as pool:
        pool.map(_write_range, jobs)
    marker.write_text("")
    return time.perf_counter() - started


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def resident() -> dict[str, int]:
    """VmRSS and its anonymous and file-backed parts (shared libraries, mapped files), bytes."""
    wanted = {"VmRSS": "rss", "RssAnon": "rss_anon", "RssFile": "rss_file"}
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in wanted:
            out[wanted[name]] = int(value.split()[0]) * 1024
    return out


def memory_of(pid: int) -> dict[str, int]:
    """Rss, Pss, Pss_Anon and Pss_File of a process, in bytes (Linux)."""
    wanted = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem")
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in wanted:
            out[name.lower()] = int(value.split()[0]) * 1024
    return out


def measure_cache(root: str, cache_dir: str, image_size: int, chunk: int) -> dict:
    """In a fresh process: build the three caches of the folder; peak RSS and time."""
    import dfcvae.data.cache
    from dfcvae.data import SkippedFilesWarning, build_dataset

    if chunk:  # to compare: images written through one memory map before it is reopened
        dfcvae.data.cache.CHUNK = chunk

    after_import = resident()  # torch's shared libraries alone are most of it
    started = time.perf_counter()
    sizes = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFilesWarning)
        for split in ("train", "valid", "test"):
            dataset = build_dataset("folder", root=root, split=split, cache_dir=cache_dir,
                                    image_size=image_size, progress=False)  # fmt: skip
            sizes[split] = len(dataset)
    cache_bytes = sum(path.stat().st_size for path in Path(cache_dir).glob("*/images.npy"))
    return {
        "images": sizes,
        "cache_files_bytes": cache_bytes,
        "seconds": round(time.perf_counter() - started, 1),
        "chunk": dfcvae.data.cache.CHUNK,
        "after_import": after_import,
        "at_end": resident(),
        "peak_rss_bytes": peak_rss(),
    }


def measure_workers(root: str, cache_dir: str, image_size: int, workers: int) -> dict:
    """In a fresh process: one pass over the train cache with ``workers`` DataLoader workers."""
    import torch

    from dfcvae.data import DFCVAEDataModule

    torch.set_num_threads(1)
    datamodule = DFCVAEDataModule("folder", root=root, cache_dir=cache_dir, image_size=image_size,
                                  batch_size=256, num_workers=workers, pin_memory=False,
                                  progress=False)  # fmt: skip
    datamodule.setup("fit")
    dataset = datamodule.train_set
    loader = datamodule.train_dataloader()
    started = time.perf_counter()
    seen = sum(images.shape[0] for images, _ in loader)
    seconds = time.perf_counter() - started
    pids = [w.pid for w in loader._iterator._workers] if workers else []  # persistent workers
    per_worker = [memory_of(pid) for pid in pids]
    main = memory_of(os.getpid())
    file_bytes = (dataset.folder / "images.npy").stat().st_size
    result = {
        "workers": workers,
        "images_read": seen,
        "seconds": round(seconds, 1),
        "cache_file_bytes": file_bytes,
        "pickled_dataset_bytes": len(pickle.dumps(dataset)),
        "main": main,
        "per_worker": per_worker,
        "total_pss_bytes": main["pss"] + sum(w["pss"] for w in per_worker),
        "total_pss_file_bytes": main["pss_file"] + sum(w["pss_file"] for w in per_worker),
        "total_rss_bytes": main["rss"] + sum(w["rss"] for w in per_worker),
    }
    del loader
    return result


def in_fresh_process(*args: str) -> dict:
    command = [sys.executable, __file__, *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())  # fmt: skip
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": memory,
            "python": platform.python_version(), "system": platform.platform()}  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("_cache", "_workers"):
        kind, root, cache_dir, size, *rest = sys.argv[1:]
        if kind == "_cache":
            print(json.dumps(measure_cache(root, cache_dir, int(size), int(rest[0]))))
        else:
            print(json.dumps(measure_workers(root, cache_dir, int(size), int(rest[0]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=0, help="override cache.CHUNK (compare)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dfcvae-cache-memory"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    root = args.workdir / f"images-{args.images}"
    cache_dir = args.workdir / "cache"
    generated = generate(root, args.images)
    for stale in cache_dir.glob("*"):  # measure a build, not a cache hit
        for path in stale.iterdir():
            path.unlink()
        stale.rmdir()
    size = str(args.image_size)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "generated_seconds": round(generated, 1),
        "cache": in_fresh_process("_cache", str(root), str(cache_dir), size, str(args.chunk)),
        "workers": in_fresh_process(
            "_workers", str(root), str(cache_dir), size, str(args.workers)
        ),  # fmt: skip
    }
    text = json.dumps(result, indent=1)
    print(text)
    (args.out or args.workdir / "cache_memory.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
