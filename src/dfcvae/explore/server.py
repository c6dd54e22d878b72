"""The HTTP layer of ``dfcvae explore``: the standard library's ``ThreadingHTTPServer`` serving
one static page and a small JSON API over an ``Explorer``. No template engine, no CDN.

    GET  /                          the page (static/index.html, explore.js, explore.css)
    GET  /api/info                        runs, attribute names, thumbnails, upload limits
    GET  /api/thumbnails/<runs>/<i>.png   test image i of the first run (<runs>: which runs)
    POST /api/upload                      the image file's bytes -> {"input", "image"}
    POST /api/render                      a view as JSON -> {"images": [{"run", "png"}], "ms"}
    POST /api/samples                     {"temperature", "seed", "n", "sampler"} -> the same
                                          (sampler: default ``DEFAULT_SAMPLER``, fitted)

Errors are JSON ``{"error": message}`` with a 4xx status; the server keeps running. Requests
from other web pages get 403 (``guard``); slow and surplus connections are cut off
(``connections``).
"""

from __future__ import annotations

import base64
import io
import ipaddress
import json
import math
import re
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any

from dfcvae.analysis.latent_prior import DEFAULT_SAMPLER, SAMPLERS
from dfcvae.analysis.runs import RunLike
from dfcvae.errors import ConfigError
from dfcvae.explore.connections import MAX_CONNECTIONS, TIMEOUT, CappedServer, DeadlineReader
from dfcvae.explore.explorer import Explorer, View
from dfcvae.explore.guard import JSON_TYPES, UPLOAD_TYPES, ascii_int, foreign_request, media_type
from dfcvae.explore.inputs import UploadError, png_bytes

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/explore.js": ("explore.js", "text/javascript; charset=utf-8"),
    "/static/explore.css": ("explore.css", "text/css; charset=utf-8"),
}
# Everything comes from this server: no CDN, no web fonts, no analytics, even by mistake.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # No other origin may read or embed an answer (and there is no CORS header to allow it).
    "Cross-Origin-Resource-Policy": "same-origin",
}
MAX_JSON_BYTES = 64 * 1024


@dataclass(frozen=True)
class Route:
    """One endpoint: ``path`` is a template where ``{runs}`` stands for the runs' fingerprint
    and ``{index}`` for a number; ``handler`` names the ``Handler`` method; ``types`` are the
    content types a POST body may have."""

    method: str
    path: str
    handler: str
    types: frozenset[str] = frozenset()

    @property
    def pattern(self) -> re.Pattern[str]:
        parts = re.split(r"(\{\w+\})", self.path)
        return re.compile(
            "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
        )


ROUTES = (
    Route("GET", "/api/info", "info"),
    Route("GET", "/api/thumbnails/{runs}/{index}.png", "thumbnail"),
    Route("POST", "/api/upload", "upload", UPLOAD_TYPES),
    Route("POST", "/api/render", "render", JSON_TYPES),
    Route("POST", "/api/samples", "samples", JSON_TYPES),
)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if route.method == method and found:
            return route, found.groupdict()
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def parse_view(body: dict[str, Any]) -> View:
    """A view from the page's JSON; the same picture always gives the same ``View`` (sorted
    nonzero strengths, no second input at alpha 0), so the cache recognises it."""
    if not isinstance(body.get("input"), str):
        raise ConfigError("choose an input image first")
    other, alpha = body.get("other"), number(body.get("alpha", 0.0), "alpha")
    if other is not None and not isinstance(other, str):
        raise ConfigError("other: must be an input key")
    if other is None or alpha == 0:
        other, alpha = None, 0.0
    method = body.get("method", "lerp")
    if method not in ("lerp", "slerp"):
        raise ConfigError(f"method {method!r}: choose lerp or slerp")
    strengths = body.get("strengths") or {}
    if not isinstance(strengths, dict):
        raise ConfigError("strengths: must map attribute names to numbers")
    pairs = tuple(sorted((str(k), number(v, str(k))) for k, v in strengths.items() if v))
    return View(body["input"], other, alpha, method == "slerp" and other is not None, pairs)


def number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name}: must be a number")
    return float(value)


class Handler(BaseHTTPRequestHandler):
    """One request; ``server.explorer`` does the work."""

    server: ExploreServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the second one waits for
    # the client's delayed ACK, 40 ms on Linux, a third of the time budget of a slider move.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # reads go through the deadline instead
        self.rfile = io.BufferedReader(DeadlineReader(self.connection, lambda: self.deadline))

    def handle_one_request(self) -> None:
        self.deadline = time.monotonic() + self.server.timeout_s
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: errors reach the page; the terminal shows only the URL

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if not self.check_host() or (path.startswith("/api/") and not self.check_origin()):
            return
        if path in STATIC:
            name, kind = STATIC[path]
            body = resources.files("dfcvae.explore").joinpath("static", name).read_bytes()
            return self.send(HTTPStatus.OK, body, kind)
        found = find_route("GET", path)
        if found is None:
            return self.send_json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})
        route, parameters = found
        getattr(self, route.handler)(parameters)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if not self.check_host() or not self.check_origin():
            return
        found = find_route("POST", path)
        if found is None:
            return self.send_json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {path}"})
        route = found[0]
        kind = media_type(self.headers.get("Content-Type"))
        if kind not in route.types:
            self.skip_body()
            message = f"{path} takes {' or '.join(sorted(route.types))}, not {kind or 'nothing'}"
            return self.send_json(HTTPStatus.FORBIDDEN, {"error": message})
        if path != "/api/upload":
            body = self.read_body(MAX_JSON_BYTES)
            return None if body is None else self.answer(route, body)
        # An upload's body is read only when it can be decoded: bodies in memory stay as few
        # as the decodes (the others wait in the sockets' buffers), each with its own deadline.
        with self.server.uploading:
            self.deadline = time.monotonic() + self.server.timeout_s
            body = self.read_body(self.server.explorer.max_bytes)
            if body is not None:
                self.answer(route, body)

    def answer(self, route: Route, body: bytes) -> None:
        try:
            getattr(self, route.handler)(body)
        except UploadError as error:
            self.send_json(error.status, {"error": str(error)})
        except ConfigError as error:
            self.send_json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
        except ConnectionError:
            raise
        except Exception as error:  # noqa: BLE001 -- one line on the page, the server goes on
            message = f"internal error in {route.path}: {type(error).__name__}: {error}"
            print(f"dfcvae explore: {message}", file=sys.stderr)
            self.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": message})

    def info(self, parameters: dict[str, str]) -> None:
        self.send_json(HTTPStatus.OK, self.server.info)

    def thumbnail(self, parameters: dict[str, str]) -> None:
        explorer = self.server.explorer
        index = ascii_int(parameters["index"])
        if (
            parameters["runs"] != explorer.fingerprint
            or index is None
            or index >= len(explorer.test)
        ):
            return self.send_json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {self.path}"})
        png = png_bytes(explorer.test[index][0])
        self.send(HTTPStatus.OK, png, "image/png", cache=True)

    def upload(self, body: bytes) -> None:
        explorer = self.server.explorer
        key = explorer.add_upload(body)
        image = data_url(png_bytes(explorer.preview(key)))
        self.send_json(HTTPStatus.OK, {"input": key, "image": image})

    def render(self, body: bytes) -> None:
        started = time.perf_counter()
        images = self.server.explorer.render(parse_view(self.json(body)))
        self.send_images(images, started)

    def samples(self, body: bytes) -> None:
        started, request = time.perf_counter(), self.json(body)
        seed = request.get("seed", 0)
        n = request.get("n", 8)
        if not isinstance(seed, int) or not isinstance(n, int):
            raise ConfigError("seed and n: must be integers")
        temperature = number(request.get("temperature", 1.0), "temperature")
        sampler = request.get("sampler", DEFAULT_SAMPLER)
        if not isinstance(sampler, str):
            raise ConfigError("sampler: must be standard or fitted")
        self.send_images(self.server.explorer.samples(temperature, seed, n, sampler), started)

    def send_images(self, images: Sequence, started: float) -> None:
        names = self.server.explorer.names
        items = [{"run": n, "png": data_url(png_bytes(i))} for n, i in zip(names, images)]
        ms = 1000 * (time.perf_counter() - started)
        self.send_json(HTTPStatus.OK, {"images": items, "ms": round(ms, 1)})

    @staticmethod
    def json(body: bytes) -> dict[str, Any]:
        try:
            value = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ConfigError("the request body is not JSON") from None
        if not isinstance(value, dict):
            raise ConfigError("the request body must be a JSON object")
        return value

    def check_host(self) -> bool:
        """On loopback, only requests addressed to loopback: a web page cannot reach the
        server through a rebound DNS name."""
        if not self.server.loopback:
            return True
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if is_loopback(host):
            return True
        self.send_json(HTTPStatus.FORBIDDEN, {"error": f"host {host!r} is not allowed"})
        return False

    def check_origin(self) -> bool:
        """Only the page itself: a request another web page makes gets 403 (see ``guard``)."""
        reason = foreign_request(self.headers, self.headers.get("Host") or "")
        if reason is None:
            return True
        self.skip_body()
        self.send_json(HTTPStatus.FORBIDDEN, {"error": f"{reason} is not allowed"})
        return False

    def skip_body(self) -> None:
        """Before a refusal: read a small body, so the answer is not lost to a reset
        connection; close the connection instead of reading a large or unknown one."""
        header = self.headers.get("Content-Length")
        length = (
            None if header is None else ascii_int(header.strip(), max_digits=18, canonical=False)
        )
        if length is None or length > MAX_JSON_BYTES:
            if header is not None or self.command == "POST":
                self.close_connection = True
            return
        self.rfile.read(length)

    def read_body(self, limit: int) -> bytes | None:
        header = self.headers.get("Content-Length") or ""
        length = ascii_int(header.strip(), max_digits=18, canonical=False)
        if length is None:
            self.close_connection = True
            self.send_json(HTTPStatus.LENGTH_REQUIRED, {"error": "send a Content-Length"})
            return None
        if length > limit:
            self.close_connection = True  # the body stays unread
            message = f"the request has {length:,} bytes; the limit is {limit:,}"
            self.send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": message})
            return None
        return self.rfile.read(length)

    def send_json(self, status: int, value: Any) -> None:
        self.send(status, json.dumps(value).encode(), "application/json")

    def send(self, status: int, body: bytes, kind: str, cache: bool = False) -> None:
        self.connection.settimeout(self.server.timeout_s)  # reads may have left less
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class ExploreServer(CappedServer):
    """The HTTP server that carries the ``Explorer``.

    timeout: seconds a request may take to arrive (and an idle connection may stay open);
    max_connections: open connections at once, more are answered 503.
    """

    def __init__(
        self,
        explorer: Explorer,
        host: str,
        port: int,
        *,
        timeout: float = TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.explorer, self.timeout_s = explorer, timeout
        self.uploading = threading.BoundedSemaphore(explorer.max_decodes)
        self.loopback = is_loopback(host)
        if ":" in host.strip("[]"):
            self.address_family = socket.AF_INET6
        super().__init__((host.strip("[]"), port), Handler, max_connections=max_connections)
        self.info = {
            "runs": [
                {
                    "name": name,
                    "dataset": run.config.data.dataset,
                    "image_size": run.config.model.image_size,
                    "channels": run.config.model.channels,
                    "latent_dim": run.config.model.latent_dim,
                    "attributes": list(vectors),
                }
                for name, run, vectors in zip(explorer.names, explorer.runs, explorer.vectors)
            ],
            "attributes": explorer.attributes,
            "thumbnails": explorer.thumbnails,
            "thumbnail_path": f"/api/thumbnails/{explorer.fingerprint}/",
            "max_bytes": explorer.max_bytes,
            "max_pixels": explorer.max_pixels,
            "max_image_bytes": explorer.max_image_bytes,
            "samplers": list(SAMPLERS),
            "default_sampler": DEFAULT_SAMPLER,
        }

    def handle_error(self, request, client_address) -> None:
        """A browser that went away mid-answer is normal; anything else is one line."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            print(f"dfcvae explore: {type(error).__name__}: {error}", file=sys.stderr)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's full name, which can stall offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"


def make_server(
    explorer: Explorer,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    timeout: float = TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> ExploreServer:
    """A server bound to ``host:port`` (port 0: a free one), not yet serving; see
    ``ExploreServer`` for ``timeout`` and ``max_connections``."""
    try:
        return ExploreServer(explorer, host, port, timeout=timeout, max_connections=max_connections)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(
            f"--host {host} --port {port}: cannot listen there ({reason}); "
            "choose another --port, or --port 0 for a free one"
        ) from None


def serve(
    runs: Sequence[RunLike],
    host: str = "127.0.0.1",
    port: int = 8765,
    device: str = "cpu",
    *,
    progress: bool = True,
) -> None:
    """Serve the page for ``runs`` until Ctrl-C; prints the URL. Binds loopback by default."""
    explorer = Explorer(runs, device, progress=progress)
    try:
        server = make_server(explorer, host, port)
        with server:
            if not server.loopback:
                print(
                    f"dfcvae explore: warning: listening on {host}, not loopback: anyone who "
                    "can reach this machine can use the page and upload to it",
                    file=sys.stderr,
                )
            print(
                f"dfcvae explore: {len(explorer.runs)} run(s) at {server.url} (Ctrl-C stops)",
                flush=True,
            )
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                print("dfcvae explore: stopped", file=sys.stderr)
    finally:
        explorer.close()
