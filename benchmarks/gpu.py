"""The GPU check, in one command and under 5 minutes on one CUDA GPU (``benchmarks/gpu.sh``):

1. the tests marked ``gpu`` (``pytest -m gpu``);
2. the GPU's matrix-multiply peaks (bf16, fp16, tf32) measured in the same run;
3. vae-123 at 64x64 (random loss-network weights), 200 steps at batch 64 and 256 in bf16-mixed
   and 16-mixed, through ``trainer.fit`` as ``dfcvae train`` runs it: images per second and the
   share of the measured bf16 peak by the step's FLOP count (``FlopCounterMode``);
4. where there are two GPUs, a 2-process DDP run of the same step.

Writes ``<out>.json`` and ``<out>.md`` (default ``gpu-bench``). ``--cpu-smoke`` runs the same
stages on CPU at a tiny size (32x32, batch 4 and 8, 3 steps; the gpu tests on CPU; DDP with two
gloo processes) to prove the script end to end on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

PRESET = "vae-123"
PRECISIONS = ("bf16-mixed", "16-mixed")
FULL = {"image_size": 64, "batches": (64, 256), "steps": 200, "warmup": 10}
SMOKE = {"image_size": 32, "batches": (4, 8), "steps": 3, "warmup": 1}
RESULT_TAG = "GPU-BENCH-RESULT "


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def child(kind: str, args: dict) -> dict:
    """One measurement in a fresh process (its own CUDA context and peak memory)."""
    import torch

    from common import machine, matmul_peak, peak_memory_bytes

    device = torch.device(args["device"])
    if kind == "peaks":
        peaks = {"bf16": matmul_peak(torch.bfloat16, device)}
        if device.type == "cuda":
            peaks["fp16"] = matmul_peak(torch.float16, device)
            torch.backends.cuda.matmul.allow_tf32 = True
            peaks["tf32"] = matmul_peak(torch.float32, device)
        else:
            peaks["fp32"] = matmul_peak(torch.float32, device)
        return {"machine": machine(device), "peaks": peaks}
    if kind == "throughput":
        from step import bench_config, fit_throughput, step_flops

        config = bench_config(
            PRESET, batch_size=args["batch"], image_size=args["image_size"],
            device=device.type, precision=args["precision"],
        )  # fmt: skip
        result = fit_throughput(
            config, device, warmup=args["warmup"], wanted=args["steps"], reference=False
        )
        result["flops"] = step_flops(config, device)
        result["peak_memory_bytes"] = peak_memory_bytes(device)
        return result
    if kind == "ddp":
        return ddp_run(args)
    raise ValueError(kind)


def ddp_run(args: dict) -> dict:
    """``trainer.fit`` with 2 processes (Lightning's ddp launcher re-runs this command)."""
    import torch
    from torch.utils.data import DataLoader

    from dfcvae.training.module import DFCVAEModule
    from dfcvae.training.trainer import build_trainer
    from step import RepeatedBatch, StepTimer, bench_config, synthetic_images

    device = torch.device(args["device"])
    config = bench_config(
        PRESET, batch_size=args["batch"], image_size=args["image_size"],
        device=device.type, precision=args["precision"],
    )  # fmt: skip
    config.train.devices, config.train.strategy = "2", "ddp"
    config.train.max_steps, config.train.epochs = args["warmup"] + args["steps"], 1
    x = synthetic_images(args["batch"], 3, args["image_size"])
    timer = StepTimer(device if device.type == "cpu" else torch.device("cuda"),
                      args["warmup"], args["steps"])  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        trainer = build_trainer(config, Path(out), progress=False)
        trainer.callbacks.append(timer)
        module = DFCVAEModule(config.to_dict())
        loader = DataLoader(RepeatedBatch(x, 2 * (args["warmup"] + args["steps"])), batch_size=None)
        trainer.fit(module, train_dataloaders=loader)
    if not trainer.is_global_zero:
        return {}
    per_step = timer.steps.median
    return {
        "processes": trainer.world_size,
        "precision": str(trainer.precision),
        "step_s": per_step,
        "images_per_s": 2 * args["batch"] / per_step,
    }


def run_child(kind: str, args: dict, timeout: float = 240) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, json.dumps(args)]
    env = {**os.environ, "DFCVAE_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    from common import child_result

    return child_result(done, RESULT_TAG, start)


def run_tests(smoke: bool) -> dict:
    env = {**os.environ, "DFCVAE_OFFLINE": "1"}
    if smoke:
        env["DFCVAE_GPU_TESTS_ON_CPU"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
               "tests/test_gpu.py"]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
    return {"returncode": done.returncode, "summary": summary,
            "seconds": time.perf_counter() - start}  # fmt: skip


def measure(smoke: bool) -> dict:
    import torch

    sizes = SMOKE if smoke else FULL
    device = "cpu" if smoke else "cuda"
    if not smoke and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.sh: no CUDA GPU here; --cpu-smoke runs the stages on CPU")
    results: dict = {"mode": "cpu-smoke" if smoke else "gpu", "preset": PRESET, **sizes,
                     "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}  # fmt: skip
    log("1/4 tests marked gpu")
    results["tests"] = run_tests(smoke)
    log(f"    {results['tests']['summary']}")
    log("2/4 matrix-multiply peaks")
    results.update(run_child("peaks", {"device": device}))
    results["throughput"] = []
    for precision in PRECISIONS:
        for batch in sizes["batches"]:
            log(f"3/4 {PRESET} {precision} batch {batch}, {sizes['steps']} steps")
            args = {"device": device, "precision": precision, "batch": batch,
                    "image_size": sizes["image_size"], "steps": sizes["steps"],
                    "warmup": sizes["warmup"]}  # fmt: skip
            results["throughput"].append({**args, **run_child("throughput", args)})
    gpus = torch.cuda.device_count() if not smoke else 2
    if gpus >= 2:
        log("4/4 2-process DDP")
        args = {"device": device, "precision": PRECISIONS[0], "batch": sizes["batches"][0],
                "image_size": sizes["image_size"], "steps": sizes["steps"],
                "warmup": sizes["warmup"]}  # fmt: skip
        results["ddp"] = {**args, **run_child("ddp", args, timeout=300)}
    else:
        results["ddp"] = {"skipped": f"{gpus} GPU: DDP needs two"}
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return results


def markdown(results: dict) -> str:
    m = results.get("machine", {})
    peaks = results.get("peaks", {})
    bf16 = peaks.get("bf16", {}).get("gflops", float("nan"))
    where = m.get("gpu") or f"CPU {m.get('cpu')} (smoke run, tiny sizes)"
    lines = [
        f"### {results['preset']} on {where}",
        "",
        f"Run {results.get('started')} to {results.get('finished')}; torch {m.get('torch')}. "
        "Peaks (best square matmul): "
        + ", ".join(f"{k} {v['gflops'] / 1e3:.1f} TFLOP/s" for k, v in peaks.items())
        + f". Tests marked gpu: {results['tests']['summary']}.",
        "",
        *(
            ["On CPU Lightning runs 16-mixed as bf16-mixed.", ""]
            if results["mode"] != "gpu"
            else []
        ),  # fmt: skip
        "| precision | batch | img/s | GFLOP/step | TFLOP/s | of bf16 peak | peak memory |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results.get("throughput", []):
        if "error" in r:
            lines.append(f"| {r['precision']} | {r['batch']} | failed: {r['error'][:120]} |")
            continue
        tflops = r["flops"] / r["dfcvae"]["median_s"] / 1e12
        lines.append(
            f"| {r['precision']} | {r['batch']} | {r['dfcvae_images_per_s']:.0f} | "
            f"{r['flops'] / 1e9:.1f} | {tflops:.2f} | {tflops * 1e3 / bf16:.0%} | "
            f"{r['peak_memory_bytes'] / 2**30:.2f} GiB |"
        )
    ddp = results.get("ddp", {})
    if "images_per_s" in ddp:
        lines += ["", f"2-process DDP ({ddp['precision']}, batch {ddp['batch']} per process): "
                      f"{ddp['images_per_s']:.0f} img/s in all, {ddp['step_s'] * 1e3:.0f} ms "
                      "per step."]  # fmt: skip
    else:
        lines += ["", f"DDP: {ddp.get('skipped') or ddp.get('error', 'not run')}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="the same stages, tiny, on CPU")
    parser.add_argument("--out", default="gpu-bench", help="writes OUT.json and OUT.md")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ARGS"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        result = child(options.child[0], json.loads(options.child[1]))
        if result:
            print(RESULT_TAG + json.dumps(result), flush=True)
        return 0
    start = time.perf_counter()
    results = measure(options.cpu_smoke)
    results["total_s"] = time.perf_counter() - start
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    out.with_suffix(".md").write_text(markdown(results))
    log(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')} "
        f"in {results['total_s']:.0f} s")  # fmt: skip
    failed = results["tests"]["returncode"] not in (0, 5) or any(
        "error" in r for r in [*results["throughput"], results["ddp"]]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
