"""Peak memory of `dfcvae explore` under 8 concurrent worst-case uploads (loopback only).

    PYTHONPATH=src .venv/bin/python benchmarks/explore_memory.py [--uploads 8]

The server, ``dfcvae explore`` in a child process, serves 3 runs at 64x64 RGB (PVAE, VAE-123 and
VAE-345 configs with initial weights, made as in benchmarks/explore_latency.py) over
Fashion-MNIST. Half the uploads are 16-bit grey PNGs of 7000x7000 (49 megapixels, 98 MB of
pixels), half RGBA PNGs of 7071x7071 (the most pixels the cap lets through, 200 MB of pixels),
each with random rows up to just under the 20 MiB byte cap so that the decoder has real work.
All are sent at once, each on its own connection, and each must be answered 200. The figure is
the server's resident-memory high-water mark (VmHWM in /proc/PID/status) over its whole life,
start-up included; the target is under 2 GiB. Prints one JSON line and a markdown row.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TARGET_BYTES = 2 * 1024**3
BYTE_CAP = 20 * 1024 * 1024


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def worst_png(width: int, height: int, depth: int, colour: int) -> bytes:
    """A PNG (``depth`` bits; colour type 0 grey or 6 RGBA) whose first rows are random and the
    rest zeros, about 19.4 MiB: under the byte cap, as much real decoding as fits."""
    import numpy as np

    row_bytes = width * depth // 8 * (4 if colour == 6 else 1)
    random_rows = int(BYTE_CAP * 0.97) // (row_bytes + 1)
    rng = np.random.default_rng(0)
    packer = zlib.compressobj(9)
    zeros = bytes(row_bytes + 1)
    parts = [packer.compress(b"\x00" + rng.bytes(row_bytes)) for _ in range(random_rows)]
    parts += [packer.compress(zeros) for _ in range(height - random_rows)]
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of process ``pid``, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


def start_server(folder: Path, src: Path) -> tuple[subprocess.Popen, int]:
    """``dfcvae explore`` from the source tree ``src`` on 3 runs, in a child process on a free
    loopback port."""
    from explore_latency import make_runs

    runs = make_runs(folder / "runs", 3, folder / "cache")
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "dfcvae", "explore", *map(str, runs), "--port", "0"]
    child = subprocess.Popen(
        [*command, "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        # Ctrl-C must reach it even when this script runs in the background (where SIGINT is
        # ignored, and the child would inherit that).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    line = child.stdout.readline()  # "dfcvae explore: 3 run(s) at http://127.0.0.1:PORT/ ..."
    return child, int(line.split("http://127.0.0.1:")[1].split("/")[0])


def upload(port: int, body: bytes, results: list, index: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    headers = {"Content-Type": "application/octet-stream"}
    connection.request("POST", "/api/upload", body, headers)
    response = connection.getresponse()
    reply = json.loads(response.read())
    results[index] = (response.status, time.perf_counter() - started, reply.get("error"))
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=8)
    parser.add_argument(
        "--src",
        type=Path,
        default=HERE.parent / "src",
        help="the dfcvae source tree the server runs from (default this checkout's src/); "
        "another version's, to compare",
    )
    args = parser.parse_args()
    from common import cpu_family, cpu_flags, cpu_identity, cpu_model

    print("making the uploads ...", file=sys.stderr)
    kinds = {
        "16-bit grey 7000x7000": worst_png(7000, 7000, 16, 0),
        "RGBA 7071x7071": worst_png(7071, 7071, 8, 6),
    }
    bodies = [list(kinds.values())[k % 2] for k in range(args.uploads)]
    assert all(len(body) < BYTE_CAP for body in bodies)
    with tempfile.TemporaryDirectory() as tmp:
        child, port = start_server(Path(tmp), args.src)
        try:
            before = memory(child.pid)
            results: list = [None] * len(bodies)
            threads = [
                threading.Thread(target=upload, args=(port, body, results, k))
                for k, body in enumerate(bodies)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - started
            after = memory(child.pid)
        finally:
            child.send_signal(signal.SIGINT)  # Ctrl-C
            stopped = child.wait(timeout=60)
    assert all(status == 200 for status, _, _ in results), results
    result = {
        "uploads": len(bodies),
        "kinds": {name: len(body) for name, body in kinds.items()},
        "rss_before_mib": round(before["VmRSS"] / 2**20),
        "peak_rss_mib": round(after["VmHWM"] / 2**20),
        "rss_after_mib": round(after["VmRSS"] / 2**20),
        "target_mib": TARGET_BYTES // 2**20,
        "all_answered_s": round(seconds, 1),
        "slowest_upload_s": round(max(s for _, s, _ in results), 1),
        "exit_status_after_ctrl_c": stopped,
        "load_average": os.getloadavg(),
        "cpu": cpu_model(),
        "cpu_family": cpu_family(cpu_identity(), cpu_flags()),
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))
    verdict = "met" if after["VmHWM"] < TARGET_BYTES else "missed"
    print(
        f"| {len(bodies)} at once | {result['rss_before_mib']} MiB | "
        f"{result['peak_rss_mib']} MiB | {result['all_answered_s']} s | {verdict} |"
    )


if __name__ == "__main__":
    main()
