"""Take docs/explore.png, the README's screenshot of `dfcvae explore`, from real runs.

    PYTHONPATH=src .venv/bin/python docs/explore_screenshot.py demo-out/runs/* [--out FILE.png]

Serves the runs on a free loopback port, opens the page in headless Chromium (Selenium with
Debian's chromium-driver), picks a test image as A and another as B, moves the interpolation
halfway and one attribute slider, and saves a palette PNG (small enough for the repository).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories, e.g. demo-out/runs/*")
    parser.add_argument("--out", default=str(Path(__file__).with_name("explore.png")))
    parser.add_argument("--attribute", help="slider to move (default the first)")
    parser.add_argument("--strength", type=float, default=1.5)
    parser.add_argument("--size", default="1400,900", help="window width,height")
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    from dfcvae.explore import Explorer, make_server

    explorer = Explorer(args.runs)
    server = make_server(explorer, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as profile:
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                         f"--window-size={args.size}", f"--user-data-dir={profile}"):  # fmt: skip
            options.add_argument(argument)
        service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
        driver = webdriver.Chrome(service=service, options=options)
        try:
            driver.get(server.url)
            wait = WebDriverWait(driver, 60)
            wait.until(lambda d: d.execute_script("return document.body.dataset.samples"))
            thumbnails = driver.find_elements("css selector", "#thumbnails img")
            thumbnails[min(1, len(thumbnails) - 1)].click()
            driver.find_element("css selector", "input[name=slot][value=other]").click()
            thumbnails[min(9, len(thumbnails) - 1)].click()
            name = (args.attribute or explorer.attributes[0]) if explorer.attributes else None
            script = (
                "const s = arguments[0]; s.value = arguments[1];"
                "s.dispatchEvent(new Event('input'));"
            )
            driver.execute_script(script, driver.find_element("id", "alpha"), 0.5)
            if name is not None:
                slider = driver.find_element("css selector", f"input[data-attribute='{name}']")
                driver.execute_script(script, slider, args.strength)
            time.sleep(1.5)  # let the last render land
            png = driver.get_screenshot_as_png()
        finally:
            driver.quit()
            server.shutdown()
            explorer.close()
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128)
    image.save(args.out, optimize=True)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
