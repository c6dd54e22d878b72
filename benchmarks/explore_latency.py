"""How long `dfcvae explore` takes from a slider move to new images: 3 runs side by side, 64x64.

    PYTHONPATH=src .venv/bin/python benchmarks/explore_latency.py [--moves 100] [--runs 3]

Three run directories at 64x64 RGB with the paper's architecture (PVAE, VAE-123, VAE-345 configs;
the weights are the initial ones: the time does not depend on their values) over Fashion-MNIST
(first 1000 images per split, converted to RGB). The server runs in this process on a free port;
each "move" is one POST /api/render over a kept-alive loopback connection with a new strength
(so nothing comes from the cache): the JSON, mu + s * v for every run, three decoder passes, PNG
encoding and base64, as the page asks for them. With ``--browser`` (Selenium and Debian's
chromium-driver) the same moves are also made in headless Chromium: from the slider's input
event until every run's new image is decoded by the browser. Prints one JSON line and markdown.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PRESETS = ("pvae", "vae-123", "vae-345")
TARGET_MS = 150.0


def make_runs(folder: Path, count: int, cache: Path) -> list[Path]:
    """``count`` run directories at 64x64 RGB with initial weights."""
    import torch

    from dfcvae import DFCVAE, config_from_preset, save_model

    runs = []
    for index in range(count):
        preset = PRESETS[index % len(PRESETS)]
        config = config_from_preset(
            preset,
            {
                "model": {"image_size": 64, "channels": 3},
                "data": {"dataset": "fashion-mnist", "limit": 1000, "cache_dir": str(cache)},
            },
        )
        torch.manual_seed(index)
        run = folder / f"{preset}-{index}"
        save_model(run, DFCVAE(config.model), config)
        runs.append(run)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also measure in Chromium")
    args = parser.parse_args()

    import torch

    from common import Clock, cpu_flags, cpu_model
    from dfcvae.explore import Explorer, make_server

    with tempfile.TemporaryDirectory() as tmp:
        runs = make_runs(Path(tmp) / "runs", args.runs, Path(tmp) / "cache")
        explorer = Explorer(runs, progress=False)
        server = make_server(explorer, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        connection = http.client.HTTPConnection(*server.server_address[:2], timeout=60)
        attributes = explorer.attributes

        def move(strengths: dict[str, float]) -> float:
            body = json.dumps({"input": "test/0", "strengths": strengths})
            connection.request("POST", "/api/render", body, {"Content-Type": "application/json"})
            reply = json.loads(connection.getresponse().read())
            assert len(reply["images"]) == args.runs, reply
            return reply["ms"]

        for k in range(5):  # warm-up: first encodes, allocator, oneDNN kernel selection
            move({attributes[0]: 0.01 * (k + 1)})
        rounds, server_ms = [], []
        for k in range(args.moves):
            # two sliders held, a third being dragged: a new code every time
            strengths = {attributes[1]: 1.0, attributes[2]: -0.5, attributes[3]: -3 + 0.05 * k}
            with Clock(torch.device("cpu")) as clock:
                server_ms.append(move(strengths))
            rounds.append(clock.interval)
        connection.close()
        browser_ms = in_browser(server.url, attributes[4:6], args.moves) if args.browser else []
        server.shutdown()
        server.server_close()
        explorer.close()

    ms = sorted(1000 * r.seconds for r in rounds)
    result = {
        "runs": args.runs,
        "image_size": 64,
        "moves": args.moves,
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1),
        "max_ms": round(ms[-1], 1),
        "server_median_ms": round(statistics.median(server_ms), 1),
        **(
            {
                "browser_median_ms": round(statistics.median(browser_ms), 1),
                "browser_p90_ms": round(sorted(browser_ms)[int(0.9 * (len(browser_ms) - 1))], 1),
                "browser_max_ms": round(max(browser_ms), 1),
            }
            if browser_ms
            else {}
        ),  # fmt: skip
        "other_cores_median": round(statistics.median(r.other_cores for r in rounds), 2),
        "load_average": os.getloadavg(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "avx512_bf16": "avx512_bf16" in cpu_flags(),
        "torch": torch.__version__,
    }
    print(json.dumps(result))
    verdict = "met" if result["median_ms"] < TARGET_MS else "missed"
    print(
        f"| {args.runs} runs, 64x64 | {result['median_ms']} ms | {result['p90_ms']} ms | "
        f"{result['max_ms']} ms | {result['other_cores_median']} | {verdict} |"
    )

    if browser_ms:
        print(
            f"| 3 runs, 64x64, in Chromium | {result['browser_median_ms']} ms | "
            f"{result['browser_p90_ms']} ms | {result['browser_max_ms']} ms |"
        )


# Sets the slider (to a multiple of its step, 0.1), then resolves when the page has shown the
# server's answer and every run's image is decoded. (The images themselves may look alike: the
# weights are the initial ones.)
MOVE = """
const [name, value, done] = arguments;
const images = [...document.querySelectorAll('#outputs img')];
const renders = Number(document.body.dataset.renders);
const slider = document.querySelector(`input[data-attribute="${name}"]`);
const start = performance.now();
slider.value = value;
slider.dispatchEvent(new Event('input'));
(function poll() {
  if (Number(document.body.dataset.renders) > renders) {
    Promise.all(images.map((img) => img.decode())).then(() => done(performance.now() - start));
  } else {
    setTimeout(poll, 1);
  }
})();
"""


def in_browser(url: str, attributes: list[str], moves: int) -> list[float]:
    """Milliseconds from a slider's input event to every run's new image, in Chromium. The
    second slider warms up; the first takes up to 60 moves, each to a value not seen before
    (the server would answer a view it has drawn from its cache)."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as profile:
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                         f"--user-data-dir={profile}"):  # fmt: skip
            options.add_argument(argument)
        service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
        driver = webdriver.Chrome(service=service, options=options)
        try:
            driver.get(url)
            WebDriverWait(driver, 120).until(
                lambda d: d.execute_script("return document.body.dataset.renders")
            )
            for k in range(5):
                driver.execute_async_script(MOVE, attributes[1], round(0.1 * (k + 1), 1))
            values = [round(-3 + 0.1 * k, 1) for k in range(61) if round(-3 + 0.1 * k, 1) != 0]
            times = [driver.execute_async_script(MOVE, attributes[0], value)
                     for value in values[:moves]]  # fmt: skip
        finally:
            driver.quit()
    return times


if __name__ == "__main__":
    main()
