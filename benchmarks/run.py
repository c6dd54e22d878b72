"""The dfcvae benchmark: one command, results into docs/benchmarks.md.

    .venv/bin/python benchmarks/run.py [--quick] [--device cpu|cuda] [--out docs/benchmarks.md]

Every measurement runs in its own subprocess (``--child``), so that each configuration's peak
memory is its own and a GPU out-of-memory error costs one row, not the run. Results are also
written as JSON next to the markdown (``--out`` with suffix ``.json``).

What is measured (see step.py, trials.py, data_pipeline.py):
- training throughput of dfcvae's step (through ``trainer.fit``, as ``dfcvae train`` runs it)
  and of a naive reference, interleaved in one process; FLOPs per step and the fraction of the
  measured matrix-multiply peak;
- peak memory of each configuration (RSS on CPU, ``max_memory_allocated`` on CUDA);
- loss parity of the fast path with the fp32 reference over N steps;
- the ladder of speed trials, each against the rung before;
- data-pipeline throughput, and a CelebA-sized cache read through a DataLoader;
- ``predict-attributes``' linear SVMs on codes of CelebA's split sizes (attributes.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from targets import PRESETS, TARGET_PRESET  # noqa: E402 - after the path is set

RESULT_TAG = "BENCH-RESULT "


# ---------------------------------------------------------------------------------------------
# Children: one measurement each, printed as one JSON line.


def child(kind: str, args: dict) -> dict:
    import torch

    device = torch.device(args.get("device", "cpu"))
    if kind == "machine":
        from common import conv_peak, machine, matmul_peak

        peaks = {
            "fp32": matmul_peak(torch.float32, device),
            "bf16": matmul_peak(torch.bfloat16, device),
            "fp32_conv": conv_peak(torch.float32, device),
            "bf16_conv": conv_peak(torch.bfloat16, device),
        }
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            peaks["tf32"] = matmul_peak(torch.float32, device)
        return {"machine": machine(device), "peaks": peaks}
    from step import bench_config, fit_throughput, parity, peak_memory_run, step_flops

    if kind in ("throughput", "memory", "parity", "ladder"):
        config = bench_config(args["preset"], batch_size=args["batch"], device=device.type)
    if kind == "throughput":
        result = fit_throughput(
            config, device, wanted=args["wanted"], reference=args.get("reference", True)
        )
        result["flops"] = step_flops(config, device)
        result["naive_flops"] = step_flops(config, device, naive=True)
        return result
    if kind == "memory":
        from common import current_rss_bytes, peak_memory_bytes

        baseline = current_rss_bytes()
        if args["which"] != "baseline":
            peak_memory_run(config, device, args["which"])
        return {"peak_bytes": peak_memory_bytes(device), "baseline_rss_bytes": baseline}
    if kind == "parity":
        return parity(config, device, steps=args["steps"])
    if kind == "ladder":
        from trials import run_ladder

        log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
        return {"rows": run_ladder(config, device, wanted=args["wanted"], log=log)}
    if kind == "data":
        from data_pipeline import cache_build, loader_throughput, make_jpeg_folder

        root = make_jpeg_folder(Path(args["work"]) / "jpegs", args["jpegs"])
        cache = Path(args["work"]) / "cache"
        result = {"jpegs": args["jpegs"], "cache_build": cache_build(root, cache), "loaders": []}
        for workers in args["workers"]:
            result["loaders"].append(
                loader_throughput(root, cache, batch_size=args["batch"], num_workers=workers)
            )
        return result
    if kind == "attributes":
        from attributes import celeba_sized

        return celeba_sized(args["liblinear_attributes"])
    if kind == "celeba_build":
        from data_pipeline import celeba_sized_cache

        return celeba_sized_cache(Path(args["work"]))
    if kind == "celeba_read":
        from data_pipeline import read_celeba_sized

        return read_celeba_sized(args["folder"], batches=args["batches"])
    raise ValueError(f"unknown child {kind}")


def run_child(kind: str, args: dict, log, timeout: float = 3600) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, json.dumps(args)]
    env = {**os.environ, "DFCVAE_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    # torch.compile's caches start empty in every child, so compile times are cold ones.
    inductor_cache = tempfile.mkdtemp(prefix="dfcvae-inductor-")
    env["TORCHINDUCTOR_CACHE_DIR"] = inductor_cache
    env["TRITON_CACHE_DIR"] = os.path.join(inductor_cache, "triton")
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        log(f"  {kind} {args}: timed out after {timeout:.0f} s")
        return {"error": f"timed out after {timeout:.0f} s"}
    finally:
        shutil.rmtree(inductor_cache, ignore_errors=True)
    from common import child_result

    result = child_result(done, RESULT_TAG, start)
    if "error" in result:
        log(f"  {kind} {args}: failed: {result['error']}")
    return result


# ---------------------------------------------------------------------------------------------
# The run.


def measure(options: argparse.Namespace, log) -> dict:
    from common import machine_load, raise_priority

    device = options.device
    quick = options.quick
    batches = [int(b) for b in options.batch_sizes.split(",")]
    presets = options.presets.split(",")
    results: dict = {
        "command": command_line(options),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "device": device,
        "quick": quick,
        "load_before": machine_load(),
    }
    if options.nice is not None:
        previous = Path("/proc/self/autogroup").read_text().split()[-1]
        results["priority"] = raise_priority(options.nice)
    try:
        run_all(results, options, device, quick, batches, presets, log)
    finally:
        if options.nice is not None:
            raise_priority(int(previous))
    results["load_after"] = machine_load()
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return results


def run_all(results, options, device, quick, batches, presets, log) -> None:
    log("machine and matrix-multiply peaks")
    results.update(run_child("machine", {"device": device}, log))

    results["throughput"] = []
    for preset in presets:
        for batch in batches:
            log(f"throughput {preset} batch {batch}")
            args = {"device": device, "preset": preset, "batch": batch, "wanted": 3 if quick else 7}
            row = run_child("throughput", args, log)
            results["throughput"].append({"preset": preset, "batch": batch, **row})

    args = {"device": device, "preset": "pvae", "batch": 64, "which": "baseline"}
    results["memory"] = [{"which": "baseline", **run_child("memory", args, log)}]
    for preset in presets:
        for which in ("dfcvae", "naive"):
            for batch in batches:
                log(f"memory {preset} {which} batch {batch}")
                args = {"device": device, "preset": preset, "batch": batch, "which": which}
                row = run_child("memory", args, log)
                results["memory"].append({"preset": preset, "which": which, "batch": batch, **row})

    results["parity"] = []
    for preset in presets:
        log(f"parity {preset}")
        steps = 5 if quick else (20 if preset == "pvae" else 10)
        args = {"device": device, "preset": preset, "batch": 64, "steps": steps}
        results["parity"].append({"preset": preset, **run_child("parity", args, log)})

    results["ladder"] = []
    for preset in [TARGET_PRESET] if quick else [TARGET_PRESET, "pvae"]:
        if preset in presets:
            log(f"speed trials {preset}")
            args = {"device": device, "preset": preset, "batch": 64, "wanted": 2 if quick else 3}
            results["ladder"].append({"preset": preset, **run_child("ladder", args, log)})

    log("predict-attributes at CelebA's size (generated codes)")
    results["attributes"] = run_child(
        "attributes", {"liblinear_attributes": 1 if quick else 2}, log
    )

    work = Path(options.work or tempfile.mkdtemp(prefix="dfcvae-bench-"))
    try:
        log("data pipeline")
        args = {"work": str(work), "jpegs": 600 if quick else 3000, "batch": 64,
                "workers": [0, 1, 2]}  # fmt: skip
        results["data"] = run_child("data", args, log)
        log("CelebA-sized cache (202,599 images at 64x64)")
        built = run_child("celeba_build", {"work": str(work)}, log)
        results["celeba_sized"] = {"build": built}
        if "folder" in built:
            args = {"folder": built["folder"], "batches": 100 if quick else 300}
            results["celeba_sized"]["read"] = run_child("celeba_read", args, log)
    finally:
        if not options.work:
            shutil.rmtree(work, ignore_errors=True)


def command_line(options: argparse.Namespace) -> str:
    parts = [".venv/bin/python benchmarks/run.py"]
    if options.quick:
        parts.append("--quick")
    if options.device != "cpu":
        parts.append(f"--device {options.device}")
    if options.batch_sizes != "64":
        parts.append(f"--batch-sizes {options.batch_sizes}")
    if options.presets != ",".join(PRESETS):
        parts.append(f"--presets {options.presets}")
    if options.nice is not None:
        parts.append(f"--nice {options.nice}")
    return " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a few minutes)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--batch-sizes", default="64", help="comma list, e.g. 64,128,256,512")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--nice", type=int,
                        help="nice value for this run's session (autogroup), e.g. -10 as root "
                             "on a shared machine; restored afterwards")  # fmt: skip
    parser.add_argument("--work", help="keep generated images and caches in this folder")
    parser.add_argument("--from-json", help="only write the markdown from a results file")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ARGS"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        result = child(options.child[0], json.loads(options.child[1]))
        print(RESULT_TAG + json.dumps(result), flush=True)
        return 0

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    out = Path(options.out)
    if options.from_json:
        results = json.loads(Path(options.from_json).read_text())
    else:
        results = measure(options, log)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(results, indent=1))
        log(f"wrote {out.with_suffix('.json')}")
    from report import write_markdown, write_readme

    write_markdown(results, out)
    log(f"wrote {out}")
    if out.resolve() == (ROOT / "docs" / "benchmarks.md").resolve() and write_readme(
        results, ROOT / "README.md"
    ):
        log("updated the measured lines of README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
