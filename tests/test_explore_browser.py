"""`dfcvae explore` in a real headless Chromium (Selenium with Debian's chromium-driver): the page
loads, an attribute slider changes every run's image, an uploaded PNG is reconstructed and an
uploaded text file gets its error message."""

from __future__ import annotations

import base64
import io
import shutil
import threading
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
