"""`dfcvae explore` against a web page in another tab and against heavy use, over real HTTP:
requests from other origins and with other content types get 403 on every route (the route
table generates the cases), numbers only in ASCII digits, bomb uploads refused without the
memory, slow and surplus connections cut off, inputs forgotten, thumbnails tied to the runs."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dfcvae.explore import Explorer, UploadError, decode_upload, make_server
from dfcvae.explore.guard import JSON_TYPES, UPLOAD_TYPES, ascii_int
from dfcvae.explore.server import ROUTES, Route
from dfcvae.files import MODEL_FILE
from tests.data_fixtures import copy_run

pytestmark = pytest.mark.usefixtures("one_thread")
FOREIGN = {
    "another origin, text/plain": {"Origin": "http://evil.example", "Content-Type": "text/plain"},
    "another origin, the page's type": {"Origin": "http://evil.example"},
    "an opaque origin": {"Origin": "null"},
    "another port on this host": {"Origin": "http://127.0.0.1:1"},
    "a cross-site fetch": {"Sec-Fetch-Site": "cross-site"},
    "a same-site fetch from another port": {"Sec-Fetch-Site": "same-site"},
}


@pytest.fixture(scope="module")
def runs(tiny_run, tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("explore-security")
    return [copy_run(tiny_run, base / "pvae"), copy_run(tiny_run, base / "pvae-copy")]


@pytest.fixture(scope="module")
def explorer(runs):
    explorer = Explorer(runs, progress=False, max_test_inputs=4)
    yield explorer
    explorer.close()


@contextlib.contextmanager
def serving(explorer, **options):
    server = make_server(explorer, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def server(explorer):
    with serving(explorer) as server:
        yield server


def request(server, method: str, path: str, body: bytes = b"", headers=None) -> tuple:
    """(status, headers, decoded JSON or bytes) of one request on a fresh connection."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=60)
    try:
        connection.request(
            method, path, body=body if method == "POST" else None, headers=headers or {}
        )
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    is_json = response.headers.get("Content-Type") == "application/json"
    return response.status, response.headers, json.loads(data) if is_json else data


def concrete(route: Route, explorer) -> str:
    return route.path.format(runs=explorer.fingerprint, index=0)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# Bodies the page would send, so only the origin or the type can be why a request is refused.
def good_body(route: Route) -> bytes:
    if route.path == "/api/upload":
        return png(Image.new("L", (28, 28), 200))
    if route.path == "/api/samples":
        return json.dumps({"temperature": 1.0, "seed": 0, "n": 2}).encode()
    return json.dumps({"input": "test/0"}).encode()


def own_type(route: Route) -> str:
    return sorted(route.types)[0] if route.types else "application/json"


API_ROUTES = [route for route in ROUTES if route.path.startswith("/api/")]


@pytest.mark.parametrize("route", API_ROUTES, ids=lambda route: f"{route.method} {route.path}")
@pytest.mark.parametrize("foreign", list(FOREIGN), ids=list(FOREIGN))
def test_a_post_from_another_page_gets_403_on_every_api_route(server, explorer, route, foreign):
    uploads = explorer._uploads
    headers = {"Content-Type": own_type(route), **FOREIGN[foreign]}
    status, _, reply = request(server, "POST", concrete(route, explorer), good_body(route), headers)
    assert status == 403 and "is not allowed" in reply["error"], reply
    assert explorer._uploads == uploads  # nothing was done


@pytest.mark.parametrize(
    "route", [r for r in API_ROUTES if r.method == "GET"], ids=lambda route: route.path
)
def test_a_get_from_another_page_gets_403_and_no_answer_is_shared(server, explorer, route):
    path = concrete(route, explorer)
    for headers in (FOREIGN["a cross-site fetch"], {"Origin": "http://evil.example"}):
        status, answer, _ = request(server, "GET", path, headers=headers)
        assert status == 403 and "Access-Control-Allow-Origin" not in answer
    status, answer, _ = request(server, "GET", path, headers={"Sec-Fetch-Site": "same-origin"})
    assert status == 200 and answer["Cross-Origin-Resource-Policy"] == "same-origin"
    assert not [name for name in answer if name.lower().startswith("access-control-")]


def test_the_page_itself_opens_from_a_link_on_another_site(server):
    status, answer, page = request(server, "GET", "/", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 200 and b"explore.js" in page and "Access-Control-Allow-Origin" not in answer


@pytest.mark.parametrize("route", [r for r in ROUTES if r.method == "POST"], ids=lambda r: r.path)
def test_a_post_with_a_type_the_page_never_sends_gets_403(server, explorer, route):
    others = {
        "",
        "text/plain",
        "multipart/form-data; boundary=x",
        "text/html",
        "application/x-www-form-urlencoded",
        *JSON_TYPES,
        *UPLOAD_TYPES,
    }
    for kind in sorted(others - route.types):
        headers = {"Content-Type": kind} if kind else {}
        status, _, reply = request(server, "POST", route.path, good_body(route), headers)
        assert status == 403 and f"takes {' or '.join(sorted(route.types))}" in reply["error"]


def test_the_pages_own_origin_and_types_are_answered(server, explorer):
    port = server.server_address[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        own = {"Host": host, "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}
        for route in ROUTES:
            kinds = sorted(route.types) if route.types else [""]
            for kind in kinds:
                headers = {**own, **({"Content-Type": kind} if kind else {})}
                body = good_body(route) if route.method == "POST" else b""
                status, _, reply = request(
                    server, route.method, concrete(route, explorer), body, headers
                )
                assert status == 200, (route, kind, reply)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    render = next(route for route in ROUTES if route.path == "/api/render")
    assert request(server, "POST", "/api/render", good_body(render), headers)[0] == 200


@pytest.mark.parametrize(
    "number", ["٣", "３", "³", "+3", "-0", "3_0", " 3", "3 ", "03", "1e1", "9" * 5000]
)
def test_numbers_in_other_digits_or_forms_are_unknown(server, explorer, number):
    assert ascii_int(number) is None
    prefix = f"/api/thumbnails/{explorer.fingerprint}/"
    quoted = "".join(
        c if c.isascii() and c.isalnum() else f"%{b:02X}" for c in number for b in c.encode()
    )
    assert request(server, "GET", f"{prefix}{quoted}.png")[0] == 404
    body = json.dumps({"input": f"test/{number}"}).encode()
    status, _, reply = request(
        server, "POST", "/api/render", body, {"Content-Type": "application/json"}
    )
    assert status == 400 and "unknown input" in reply["error"]
    with socket.create_connection(server.server_address[:2], timeout=10) as raw:  # raw UTF-8
        raw.sendall(f"GET {prefix}{number}.png HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert raw.recv(64)[:12] in (b"HTTP/1.1 404", b"HTTP/1.1 400")  # 400: a space


def test_a_content_length_in_other_digits_is_refused(server):
    with socket.create_connection(server.server_address[:2], timeout=10) as raw:
        raw.sendall(
            "POST /api/render HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
            'application/json\r\nContent-Length: ١٦\r\n\r\n{"input": "test/0"}'.encode()
        )
        assert raw.recv(64).startswith(b"HTTP/1.1 411")


# --- Heavy use ---------------------------------------------------------------------------------


def closed_after(sock: socket.socket, trickle: bytes, limit: float) -> float:
    """Seconds until the server closes ``sock`` while a byte of ``trickle`` goes out every
    0.05 s (at most ``limit``)."""
    start = time.monotonic()
    sock.setblocking(False)
    for k in range(int(limit / 0.05)):
        try:
            if k < len(trickle):
                sock.send(trickle[k : k + 1])
            if sock.recv(4096) == b"":
                return time.monotonic() - start
        except BlockingIOError:
            pass
        except OSError:  # reset: closed too
            return time.monotonic() - start
        time.sleep(0.05)
    return float("inf")


def test_a_slow_or_idle_connection_is_closed_by_the_timeout(explorer):
    with serving(explorer, timeout=0.5) as server:
        slow = b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
        with socket.create_connection(server.server_address[:2]) as sock:
            assert 0.4 < closed_after(sock, slow, limit=5.0) < 2.5  # a byte every 0.05 s
        with socket.create_connection(server.server_address[:2]) as sock:
            assert 0.4 < closed_after(sock, b"", limit=5.0) < 2.5  # nothing at all
        connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
        connection.request("GET", "/api/info")
        assert connection.getresponse().read() and connection.sock is not None
        time.sleep(1.0)  # an idle kept-alive connection is closed too; a new one is answered
        assert connection.sock.recv(1) == b""
        connection.close()
        assert request(server, "GET", "/api/info")[0] == 200


def test_connections_past_the_cap_get_503_at_once(explorer):
    with serving(explorer, timeout=5.0, max_connections=3) as server:
        held = [socket.create_connection(server.server_address[:2]) for _ in range(3)]
        time.sleep(0.3)  # accepted: each holds a thread
        started = time.monotonic()
        status, answer, reply = request(server, "GET", "/api/info")
        assert status == 503 and time.monotonic() - started < 1.0
        assert "3 connections open" in reply["error"] and answer["Retry-After"] == "1"
        held.pop().close()
        time.sleep(0.3)  # its thread sees the end and gives the slot back
        assert request(server, "GET", "/api/info")[0] == 200
        for sock in held:
            sock.close()


# --- Uploads that cost memory ------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zero_png(width: int, height: int, depth: int = 8, colour: int = 0) -> bytes:
    """A real PNG of zeros: ``depth`` bits, colour type 0 (grey) or 6 (RGBA); ~1 kB a
    megapixel."""
    row = b"\x00" * (1 + width * depth // 8 * (4 if colour == 6 else 1))
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def peak_rss_growth(work) -> float:
    """MB the process's peak resident memory rose above its current size while ``work()`` ran
    (Linux: the peak is reset through /proc/self/clear_refs)."""

    def status(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
        raise AssertionError(field)

    Path("/proc/self/clear_refs").write_text("5")
    before = status("VmRSS:")
    work()
    return (status("VmHWM:") - before) / 1024


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_bomb_uploads_get_413_before_their_pixels_take_memory():
    bombs = {
        "30000x30000 grey": zero_png(30_000, 30_000),
        "16-bit 7500x7000": zero_png(7500, 7000, depth=16),
        "RGBA 7100x7100": zero_png(7100, 7100, colour=6),
    }
    assert all(len(data) < 1_500_000 for data in bombs.values())

    def refuse_all() -> None:
        for name, data in bombs.items():
            with pytest.raises(UploadError, match=r"too many pixels|the limit is") as caught:
                decode_upload(data)
            assert caught.value.status == 413, name
        with pytest.raises(UploadError, match=r"decodes to 1000x600 I;16 pixels = 1,200,000 b"):
            decode_upload(zero_png(1000, 600, depth=16), max_image_bytes=1_000_000)

    assert peak_rss_growth(refuse_all) < 40


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_a_large_16_bit_upload_is_shrunk_before_any_copy_is_converted():
    data = zero_png(7000, 7000, depth=16)  # 98 MB of pixels, under every cap
    images = []
    growth = peak_rss_growth(lambda: images.append(decode_upload(data, shrink_to=256)))
    assert images[0].size == (260, 260) and images[0].mode == "I"  # 7000 / 27, rounded up
    assert growth < 98 + 60, f"{growth:.0f} MB"  # the decoded file, and little more


def test_a_large_jpeg_is_decoded_at_a_fraction_of_its_size():
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 30, 90)).save(buffer, format="JPEG")
    image = decode_upload(buffer.getvalue(), max_image_bytes=4_000_000, shrink_to=256)
    assert image.size == (500, 375)  # 1/8 scale: 1.5 MB, where the full image is 48 MB


def test_an_exif_rotated_upload_is_turned_after_it_is_shrunk():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    picture = Image.new("L", (1200, 600), 0)
    picture.paste(255, (0, 0, 600, 600))  # the left half white
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", exif=exif.tobytes())
    image = decode_upload(buffer.getvalue(), shrink_to=256)
    assert image.size == (300, 600)  # shrunk by 2, then turned upright
    pixels = np.asarray(image)
    assert pixels[:290].mean() > 250 and pixels[310:].mean() < 5  # the white half is on top


def test_only_a_few_uploads_are_decoded_at_once(runs, monkeypatch):
    import dfcvae.explore.explorer as module

    explorer = Explorer(runs[:1], progress=False, max_decodes=2)
    running, most = [0], [0]
    lock = threading.Lock()
    decode = module.decode_upload

    def slow_decode(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return decode(*args, **kwargs)

    monkeypatch.setattr(module, "decode_upload", slow_decode)
    data = png(Image.new("L", (28, 28), 9))
    threads = [threading.Thread(target=explorer.add_upload, args=(data,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 2 and explorer._uploads == 6


# --- What is kept, and for which runs ----------------------------------------------------------


def test_test_inputs_are_forgotten_like_uploads(explorer):
    from dfcvae.explore import View

    for index in range(8):
        explorer.render(View(f"test/{index}"))
    kept = [key for key in explorer._inputs if key.startswith("test/")]
    assert kept == ["test/4", "test/5", "test/6", "test/7"]
    assert {key for key, _ in explorer._codes} <= set(explorer._inputs)
    explorer.preview("test/4")  # used again: now the most recent
    explorer.render(View("test/9"))
    assert [key for key in explorer._inputs if key.startswith("test/")][-2:] == ["test/4", "test/9"]
    assert "test/5" not in explorer._inputs


def test_thumbnail_urls_change_with_the_runs_served(runs, explorer, tmp_path):
    again = Explorer(runs, progress=False)
    assert again.fingerprint == explorer.fingerprint
    one = Explorer(runs[:1], progress=False)
    retrained = copy_run(runs[0], tmp_path / "pvae")
    weights = (retrained / MODEL_FILE).read_bytes()
    (retrained / MODEL_FILE).write_bytes(weights[:-1] + bytes([weights[-1] ^ 1]))
    changed = Explorer([retrained, runs[1]], progress=False)
    prints = {e.fingerprint for e in (explorer, one, changed)}
    assert len(prints) == 3 and all(len(p) == 12 for p in prints)
    with serving(changed) as server:
        old = f"/api/thumbnails/{explorer.fingerprint}/0.png"
        assert request(server, "GET", old)[0] == 404
        status, answer, _ = request(server, "GET", f"/api/thumbnails/{changed.fingerprint}/0.png")
        assert status == 200 and answer["Cache-Control"] == "max-age=3600"
