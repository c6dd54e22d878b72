"""`dfcvae explore` in a real headless Chromium (Selenium with Debian's chromium-driver): the page
loads, an attribute slider changes every run's image, an uploaded PNG is reconstructed and an
uploaded text file gets its error message, all through the server's same-origin checks; a page
of another origin can neither make the server work nor read or show its images."""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dfcvae.explore import Explorer, make_server
from dfcvae.files import CONFIG_FILE, MODEL_FILE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (make test)")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs the Debian packages chromium and chromium-driver (make test installs them)",
    ),
    pytest.mark.usefixtures("one_thread"),
]
WAIT = 60


@pytest.fixture(scope="module")
def server(tiny_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("explore-browser")
    runs = []
    for name in ("pvae", "pvae-copy"):
        (base / name).mkdir()
        for file in (CONFIG_FILE, MODEL_FILE):
            shutil.copy(tiny_run / file, base / name / file)
        runs.append(base / name)
    explorer = Explorer(runs, progress=False)
    server = make_server(explorer, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
    explorer.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,1000",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait_until(driver, condition, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(lambda d: condition(d), message)


def output_sources(driver) -> list[str]:
    images = driver.find_elements("css selector", "#outputs img")
    return [img.get_attribute("src") or "" for img in images]


def pixels(data_url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_the_page_in_chromium_sliders_uploads_and_errors(server, browser, tmp_path: Path):
    from selenium.webdriver.common.keys import Keys

    browser.get(server.url)
    wait_until(browser, lambda d: all(s.startswith("data:image/png") for s in output_sources(d)),
               "no reconstructions appeared")  # fmt: skip
    assert len(output_sources(browser)) == 2
    wait_until(browser, lambda d: d.execute_script("return document.body.dataset.samples"),
               "no samples appeared")  # fmt: skip
    thumbnails = browser.find_elements("css selector", "#thumbnails img")
    source = thumbnails[0].get_attribute("src")
    assert len(thumbnails) == 32 and f"/api/thumbnails/{server.explorer.fingerprint}/" in source
    loaded = "return [...document.querySelectorAll('#thumbnails img')].every(i => i.naturalWidth)"
    wait_until(browser, lambda d: d.execute_script(loaded), "the thumbnails did not load")
    sliders = browser.find_elements("css selector", "#attributes input[type=range]")
    assert len(sliders) == 10  # one-vs-rest Fashion-MNIST classes
    assert browser.find_element("id", "temperature").get_attribute("type") == "range"

    # An attribute slider moved with the keyboard (0 -> 1.5): every run's image changes.
    before = output_sources(browser)
    trouser = browser.find_element("css selector", "input[data-attribute='Trouser']")
    browser.execute_script("arguments[0].focus()", trouser)
    trouser.send_keys(*[Keys.ARROW_RIGHT] * 15)
    assert trouser.get_attribute("value") == "1.5"
    wait_until(browser, lambda d: all(a != b for a, b in zip(output_sources(d), before)),
               "the images did not change with the slider")  # fmt: skip
    link = browser.find_element("css selector", "#outputs a.download")
    wait_until(browser, lambda d: link.get_attribute("href") == output_sources(d)[0],
               "the download link is not the image shown")  # fmt: skip
    assert link.get_attribute("download") == "pvae-view.png"

    # An uploaded PNG becomes input A, shown as the model sees it, and is reconstructed.
    photo = tmp_path / "photo.png"
    Image.effect_noise((90, 60), 60).convert("RGB").save(photo)
    before = output_sources(browser)
    browser.find_element("id", "upload").send_keys(str(photo))
    wait_until(browser, lambda d: (d.find_element("id", "input-a").get_attribute("src") or "")
               .startswith("data:image/png"), "the upload was not shown")  # fmt: skip
    assert pixels(browser.find_element("id", "input-a").get_attribute("src")).shape == (32, 32)
    wait_until(browser, lambda d: all(a != b for a, b in zip(output_sources(d), before)),
               "the upload was not reconstructed")  # fmt: skip
    assert not browser.find_element("id", "error").is_displayed()

    # A text file: an error message in the page, and the page keeps working.
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    browser.find_element("id", "upload").send_keys(str(text))
    error = browser.find_element("id", "error")
    wait_until(browser, lambda d: error.is_displayed(), "no error message for a text file")
    assert "notes.txt" in error.text and "not a JPEG, PNG or WebP image" in error.text
    before = output_sources(browser)
    browser.find_elements("css selector", "#thumbnails img")[4].click()
    wait_until(browser, lambda d: output_sources(d) != before, "the page stopped working")

    # Nothing failed to load, and nothing was refused by the content security policy.
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert [entry for entry in severe if "/api/upload" not in entry["message"]] == []


@contextlib.contextmanager
def other_site(folder: Path):
    """A plain page served from another port: another origin (same site) than the explorer."""
    (folder / "index.html").write_text("<!doctype html><title>another page</title><p>hello")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    page = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=page.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{page.server_address[1]}/"
    finally:
        page.shutdown()
        page.server_close()


# Run in the other origin's page: what a page in another tab can try against the explorer.
ATTACK = """
const [target, thumbnail, done] = arguments;
const results = {};
const body = JSON.stringify({temperature: 1, seed: 4242, n: 2});
try {
  await fetch(target + "api/samples", {method: "POST", mode: "no-cors", body,
                                      headers: {"Content-Type": "text/plain"}});
  results.simple = "answered";
} catch (error) { results.simple = "refused"; }
try {
  await fetch(target + "api/samples", {method: "POST", body,
                                      headers: {"Content-Type": "application/json"}});
  results.json = "read";
} catch (error) { results.json = "blocked"; }
try {
  await (await fetch(target + "api/info")).json();
  results.info = "read";
} catch (error) { results.info = "blocked"; }
const img = new Image();
img.onload = () => { results.image = "shown"; done(results); };
img.onerror = () => { results.image = "refused"; done(results); };
img.src = thumbnail;
"""


def test_a_page_of_another_origin_cannot_use_the_server(server, browser, tmp_path, monkeypatch):
    import dfcvae.explore.server as module

    refused, samples = [], []
    original, draw = module.foreign_request, server.explorer.samples
    monkeypatch.setattr(
        module, "foreign_request", lambda *a: refused.append(original(*a)) or refused[-1]
    )
    monkeypatch.setattr(server.explorer, "samples", lambda *a: samples.append(a) or draw(*a))
    thumbnail = f"{server.url}api/thumbnails/{server.explorer.fingerprint}/0.png"
    with other_site(tmp_path) as page:
        browser.get(page)
        results = browser.execute_async_script(ATTACK, server.url, thumbnail)
    # The simple POST reaches the server (no preflight), which refuses it; its Cross-Origin-
    # Resource-Policy then keeps even the opaque answer from the page.
    expected = {"simple": "refused", "json": "blocked", "info": "blocked", "image": "refused"}
    assert results == expected
    assert samples == []  # the server did no work for it
    # The simple POST and the GET of /api/info reached the server (the thumbnail may come from
    # the browser's cache, where Cross-Origin-Resource-Policy refuses it as well).
    reasons = [reason for reason in refused if reason]
    assert len(reasons) >= 2 and all("another site" in reason for reason in reasons), reasons
