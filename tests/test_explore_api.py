"""`dfcvae explore`'s JSON API on a tiny trained run (two copies side by side), over real HTTP:
every endpoint, the images it returns against the analysis functions, and bad uploads."""

from __future__ import annotations

import base64
import http.client
import io
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dfcvae.analysis import attribute_vectors, open_run, read_attribute_vectors
from dfcvae.analysis.latents import decode, encode
from dfcvae.analysis.run_vectors import VECTORS_CACHE
from dfcvae.explore import Explorer, View, make_server
from dfcvae.report.images import image_grid
from tests.data_fixtures import copy_run

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tiny_run, tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("explore")
    return [copy_run(tiny_run, base / "pvae"), copy_run(tiny_run, base / "pvae-copy")]


@pytest.fixture(scope="module")
def explorer(runs):
    explorer = Explorer(runs, progress=False, max_pixels=1_000_000)
    yield explorer
    explorer.close()


@pytest.fixture(scope="module")
def url(explorer):
    server = make_server(explorer, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.url
    server.shutdown()
    server.server_close()


def call(url: str, path: str, body: bytes | dict | None = None, kind: str = "") -> tuple:
    """(status, headers, body bytes) of GET (no body) or POST."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    kind = kind or ("application/json" if isinstance(body, dict) else "application/octet-stream")
    request = urllib.request.Request(url.rstrip("/") + path, data=data)
    if data is not None:
        request.add_header("Content-Type", kind)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def png_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(data_url_or_png: str | bytes) -> np.ndarray:
    if isinstance(data_url_or_png, str):
        data_url_or_png = base64.b64decode(data_url_or_png.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data_url_or_png)))


def as_uint8(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> the 8-bit pixels a PNG of it holds."""
    array = image.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    return array[:, :, 0] if array.shape[2] == 1 else array


def rendered(url: str, view: dict) -> list[np.ndarray]:
    status, _, body = call(url, "/api/render", view)
    assert status == 200, body
    return [pixels(item["png"]) for item in json.loads(body)["images"]]


def test_info_lists_both_runs_the_ten_classes_and_the_thumbnails(url):
    status, headers, body = call(url, "/api/info")
    info = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert [run["name"] for run in info["runs"]] == ["pvae", "pvae-copy"]
    assert len(info["attributes"]) == 10 and "Trouser" in info["attributes"]
    assert info["thumbnails"] == list(range(32))
    assert info["runs"][0]["image_size"] == 32 and info["runs"][0]["channels"] == 1


def test_attribute_vectors_are_cached_in_the_run_directory_and_reused(runs, explorer):
    path = runs[0] / VECTORS_CACHE
    cached = read_attribute_vectors(path)
    fresh = attribute_vectors(open_run(runs[0]), progress=False)
    assert list(cached) == list(fresh)
    for name in fresh:
        torch.testing.assert_close(cached[name], fresh[name])
    written = path.stat().st_mtime_ns
    again = Explorer(runs[:1], progress=False)
    again.close()
    assert path.stat().st_mtime_ns == written
    assert not list(path.parent.glob(".*.tmp")), "a temporary file was left behind"


def test_page_and_its_files_load_nothing_from_another_server(url):
    status, headers, page = call(url, "/")
    assert status == 200 and b"/static/explore.js" in page
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for name in ("explore.js", "explore.css"):
        status, _, body = call(url, f"/static/{name}")
        assert status == 200 and b"http://" not in body and b"https://" not in body
    assert b"http://" not in page and b"https://" not in page
    assert call(url, "/static/../server.py")[0] == 404


def test_thumbnail_is_the_first_runs_test_image(url, explorer):
    prefix = json.loads(call(url, "/api/info")[2])["thumbnail_path"]
    assert prefix == f"/api/thumbnails/{explorer.fingerprint}/"
    status, headers, body = call(url, f"{prefix}3.png")
    assert status == 200 and headers["Content-Type"] == "image/png"
    np.testing.assert_array_equal(pixels(body), as_uint8(explorer.test[3][0]))
    assert call(url, f"{prefix}{len(explorer.test)}.png")[0] == 404
    assert call(url, "/api/thumbnails/3.png")[0] == 404
    assert call(url, "/api/thumbnails/0123456789ab/3.png")[0] == 404  # other runs' images


def test_render_decodes_mu_of_the_input_for_each_run(url, explorer):
    images = rendered(url, {"input": "test/5"})
    model = explorer.runs[0].model
    expected = as_uint8(decode(model, encode(model, explorer.test[5][0][None]))[0])
    assert len(images) == 2
    for image in images:
        np.testing.assert_array_equal(image, expected)


def test_attribute_sliders_add_the_sum_of_strength_times_vector(url, explorer):
    model, vectors = explorer.runs[0].model, explorer.vectors[0]
    mu = encode(model, explorer.test[5][0][None])[0]
    z = mu + 2.0 * vectors["Trouser"] - 1.5 * vectors["Bag"]
    view = {"input": "test/5", "strengths": {"Trouser": 2.0, "Bag": -1.5, "Coat": 0}}
    image = rendered(url, view)[0]
    np.testing.assert_array_equal(image, as_uint8(decode(model, z[None])[0]))
    assert not np.array_equal(image, rendered(url, {"input": "test/5"})[0])


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_interpolation_runs_from_the_first_input_to_the_second(url, explorer, method):
    model = explorer.runs[0].model
    start = rendered(url, {"input": "test/1", "other": "test/2", "alpha": 0, "method": method})
    end = rendered(url, {"input": "test/1", "other": "test/2", "alpha": 1, "method": method})
    middle = rendered(url, {"input": "test/1", "other": "test/2", "alpha": 0.5, "method": method})
    np.testing.assert_array_equal(start[0], rendered(url, {"input": "test/1"})[0])
    np.testing.assert_array_equal(end[0], rendered(url, {"input": "test/2"})[0])
    if method == "lerp":
        mu = encode(model, torch.stack([explorer.test[1][0], explorer.test[2][0]]))
        expected = as_uint8(decode(model, mu.mean(0, keepdim=True))[0])
        np.testing.assert_array_equal(middle[0], expected)
    assert not np.array_equal(middle[0], start[0]) and not np.array_equal(middle[0], end[0])


def test_samples_follow_the_seed_and_the_temperature(url, explorer):
    def samples(**request) -> list[np.ndarray]:
        status, _, body = call(url, "/api/samples", request)
        assert status == 200, body
        return [pixels(item["png"]) for item in json.loads(body)["images"]]

    first, again = samples(temperature=1.0, seed=3, n=8), samples(temperature=1.0, seed=3, n=8)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[0], first[1])  # the same z for both copies of the run
    assert not np.array_equal(first[0], samples(temperature=1.0, seed=4, n=8)[0])
    cold = samples(temperature=0.0, seed=3, n=4, sampler="standard")[0]  # z = 0 four times
    side = explorer.runs[0].config.model.image_size
    tiles = [cold[2 : 2 + side, 2 + k * (side + 2) : 2 + k * (side + 2) + side] for k in range(4)]
    assert all(np.array_equal(tiles[0], tile) for tile in tiles[1:])
    assert call(url, "/api/samples", {"temperature": -1})[0] == 400
    assert call(url, "/api/samples", {"n": 1000})[0] == 400


def test_the_sampler_switch_draws_from_each_run_s_fitted_prior(url, explorer, runs):
    from dfcvae.analysis.latent_prior import PRIOR_FILE, read_prior

    def samples(**request) -> list[np.ndarray]:
        status, _, body = call(url, "/api/samples", request)
        assert status == 200, body
        return [pixels(item["png"]) for item in json.loads(body)["images"]]

    standard = samples(temperature=1.0, seed=3, n=4, sampler="standard")
    fitted = samples(temperature=1.0, seed=3, n=4, sampler="fitted")
    assert all((run / PRIOR_FILE).is_file() for run in runs)  # fitted once per run, kept
    assert not np.array_equal(standard[0], fitted[0])
    default = samples(temperature=1.0, seed=3, n=4)  # no sampler: the run-level default
    assert all(np.array_equal(a, b) for a, b in zip(default, fitted, strict=True))
    prior, _ = read_prior(runs[0] / PRIOR_FILE)
    z = prior.draw(4, 1.0, torch.Generator().manual_seed(3))
    grid = explorer.samples(1.0, 3, 4, "fitted")[0]  # what the page got, from the view cache
    torch.testing.assert_close(grid, image_grid(decode(explorer.runs[0].model, z), nrow=4))
    status, _, body = call(url, "/api/samples", {"sampler": "gmm"})
    assert status == 400 and b"sampler 'gmm'" in body


def test_each_run_s_density_is_fitted_once_before_serving_so_no_request_fits(
    tiny_run, tmp_path, capsys, monkeypatch
):
    from dfcvae.analysis import latent_prior
    from dfcvae.analysis.latent_prior import PRIOR_FILE

    runs = [copy_run(tiny_run, tmp_path / "a"), copy_run(tiny_run, tmp_path / "b")]
    capsys.readouterr()
    explorer = Explorer(runs, progress=True)
    said = [line for line in capsys.readouterr().err.splitlines() if "fitting the latent" in line]
    assert len(said) == 2 and [line.split(":")[0] for line in said] == ["a", "b"]
    assert all(str(run / PRIOR_FILE) in line for run, line in zip(runs, said, strict=True))

    def no_fit(*args):
        raise AssertionError("a request fitted a density")

    monkeypatch.setattr(latent_prior, "fit_gaussian_mixture", no_fit)
    try:
        grids = explorer.samples(1.0, 3, 4)  # the default sampler: fitted, already made
        prior, _ = latent_prior.read_prior(runs[1] / PRIOR_FILE)
        z = prior.draw(4, 1.0, torch.Generator().manual_seed(3))
        torch.testing.assert_close(grids[1], image_grid(decode(explorer.runs[1].model, z), nrow=4))
    finally:
        explorer.close()
    again = Explorer(runs, progress=True)  # read back from RUN/analysis/: no line, no fit
    again.close()
    assert "fitting the latent" not in capsys.readouterr().err


def test_the_decoder_runs_only_when_the_view_changes(url, explorer, monkeypatch):
    calls = []
    model = explorer.runs[0].model
    original = model.decode
    monkeypatch.setattr(model, "decode", lambda z: calls.append(1) or original(z))
    view = {"input": "test/7", "strengths": {"Sneaker": 0.7}}
    rendered(url, view)
    rendered(url, view)
    rendered(url, {**view, "strengths": {"Sneaker": 0.7, "Bag": 0}})  # the same picture
    assert len(calls) == 1
    rendered(url, {**view, "strengths": {"Sneaker": 0.8}})
    assert len(calls) == 2


def test_an_upload_of_a_data_set_image_is_prepared_like_the_data_pipeline(url, explorer):
    # Fashion-MNIST at 32x32 is the 28x28 original padded with 2 black pixels a side: upload
    # the original and the pipeline must pad it, not stretch it, back to the cached pixels.
    cached = as_uint8(explorer.test[5][0])
    original = Image.fromarray(cached[2:30, 2:30]).convert("RGB")  # an RGB file, even
    status, _, body = call(url, "/api/upload", png_of(original), "image/png")
    reply = json.loads(body)
    assert status == 200 and reply["input"].startswith("upload/")
    np.testing.assert_array_equal(pixels(reply["image"]), cached)
    np.testing.assert_array_equal(
        rendered(url, {"input": reply["input"]})[0], rendered(url, {"input": "test/5"})[0]
    )


@pytest.mark.parametrize("kind", ["JPEG", "WEBP"])
def test_jpeg_and_webp_uploads_are_reconstructed(url, kind):
    buffer = io.BytesIO()
    Image.effect_noise((80, 50), 50).convert("RGB").save(buffer, format=kind)
    status, _, body = call(url, "/api/upload", buffer.getvalue(), f"image/{kind.lower()}")
    assert status == 200, body
    reply = json.loads(body)
    assert pixels(reply["image"]).shape == (32, 32)
    assert [image.shape for image in rendered(url, {"input": reply["input"]})] == [(32, 32)] * 2


def bomb() -> bytes:
    """A 1200x1000 PNG of a few hundred bytes: over the fixture's cap of 1,000,000 pixels."""
    return png_of(Image.new("1", (1200, 1000)))


def truncated_png() -> bytes:
    data = png_of(Image.effect_noise((64, 64), 40).convert("RGB"))
    return data[: len(data) // 2]


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"just some text, not an image\n", 415, "not a JPEG, PNG or WebP image"),
        (b"", 400, "empty"),
        (truncated_png(), 400, "broken image"),
        (gif(), 415, "not a JPEG, PNG or WebP image"),
        (bomb(), 413, "1200x1000 = 1,200,000 pixels; the limit is 1,000,000"),
    ],
    ids=["text", "empty", "truncated", "gif", "too-many-pixels"],
)
def test_a_bad_upload_gets_a_message_and_a_4xx_and_the_server_carries_on(
    url, body, status, message
):
    got, headers, reply = call(url, "/api/upload", body)
    assert got == status
    assert message in json.loads(reply)["error"]
    assert call(url, "/api/info")[0] == 200


def test_an_upload_over_the_byte_cap_is_refused_before_it_is_read(url, explorer):
    host, port = url.split("//")[1].rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/api/upload")
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(explorer.max_bytes + 1))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and "the limit is" in json.loads(response.read())["error"]
    connection.close()
    assert call(url, "/api/info")[0] == 200


@pytest.mark.parametrize(
    ("view", "message"),
    [
        ({"input": "test/99999"}, "unknown input"),
        ({"input": "upload/12345"}, "unknown input"),
        ({"input": "test/0", "other": "test/1", "alpha": 2}, "alpha"),
        ({"input": "test/0", "strengths": {"Smiling": 1}}, "unknown attribute 'Smiling'"),
        ({"input": "test/0", "strengths": {"Bag": "lots"}}, "must be a number"),
        ({"input": "test/0", "other": "test/1", "alpha": 0.5, "method": "cubic"}, "lerp"),
        ({}, "choose an input"),
    ],
)
def test_a_bad_view_gets_a_400_with_its_reason(url, view, message):
    status, _, body = call(url, "/api/render", view)
    assert status == 400 and message in json.loads(body)["error"]


def test_an_unexpected_failure_is_a_500_with_one_line_and_the_server_goes_on(
    url, explorer, monkeypatch, capsys
):
    def fail(view):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(explorer, "render", fail)
    status, _, body = call(url, "/api/render", {"input": "test/0"})
    assert status == 500
    assert json.loads(body)["error"] == "internal error in /api/render: RuntimeError: out of memory"
    assert capsys.readouterr().err.strip().endswith("RuntimeError: out of memory")
    monkeypatch.undo()
    assert call(url, "/api/render", {"input": "test/0"})[0] == 200


def test_bad_requests_get_4xx(url):
    assert call(url, "/api/render", b"{not json", "application/json")[0] == 400
    assert call(url, "/api/nothing", {"a": 1})[0] == 404
    assert call(url, "/nothing")[0] == 404
    host, port = url.split("//")[1].rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", "/api/info", headers={"Host": f"evil.example:{port}"})
    assert connection.getresponse().status == 403  # a rebound DNS name cannot reach it
    connection.close()


def test_runs_of_other_sizes_and_channels_side_by_side(runs, cache_dir, tmp_path):
    from dfcvae import DFCVAE, config_from_preset, save_model

    config = config_from_preset(
        "pvae",
        {
            "model": {"image_size": 64, "channels": 3, "latent_dim": 8, "base_width": 4},
            "data": {"dataset": "fashion-mnist", "limit": 256, "cache_dir": str(cache_dir)},
        },
    )
    torch.manual_seed(0)
    other = save_model(tmp_path / "rgb64", DFCVAE(config.model), config).parent
    explorer = Explorer([runs[0], other], progress=False)
    try:
        images = explorer.render(View("test/0"))
        assert [tuple(image.shape) for image in images] == [(1, 32, 32), (3, 64, 64)]
        # The second run prepares the original 28x28 image its own way (resized to 64, grey in
        # three channels), not the first run's padded 32x32 one resized again.
        own = explorer.input_images("test/0")[1]
        assert torch.equal(own, explorer.tests[1][0][0])
        assert torch.equal(own, open_run(other).dataset("test", progress=False)[0][0])
        assert not torch.equal(own, explorer._fit(explorer.test[0][0], explorer.runs[1]))
        assert set(explorer.vectors[1]) == set(explorer.vectors[0])  # its own ten classes
        assert explorer.vectors[1]["Bag"].shape == (8,)
        upload = Image.fromarray(as_uint8(explorer.test[0][0])[2:30, 2:30])
        key = explorer.add_upload(png_of(upload))
        first, second = explorer.input_images(key)
        assert first.shape == (1, 32, 32) and second.shape == (3, 64, 64)
        # the second run's own pipeline: 28 -> 64 by a resize, grey in all three channels
        assert torch.equal(second[0], second[1]) and torch.equal(second[1], second[2])
    finally:
        explorer.close()
