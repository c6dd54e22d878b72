"""Connections to the explorer's server: a deadline for reading each request, and a cap on
the connections open at once (one thread each), so that slow or idle clients cannot hold
every thread, and many clients cannot exhaust memory.

A request must arrive whole, headers and body, within ``timeout`` seconds of the server
starting to wait for it: a client that sends a byte now and then (slowloris) is cut off like
one that sends nothing, and an idle kept-alive connection is closed after ``timeout``. Past
``max_connections`` open connections, a new one is answered 503 at once and closed.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from http.server import ThreadingHTTPServer

TIMEOUT = 30.0
MAX_CONNECTIONS = 32
# Refusals are written from threads of their own (they wait for the client's request so that
# closing does not reset the connection before the 503 is read); more at once are just closed.
MAX_REFUSALS = 8
REFUSAL_LINGER = 1.0
CLOSE_WAIT = 60.0  # seconds a request in progress may take to finish when the server closes


class DeadlineReader(io.RawIOBase):
    """A socket's reads that fail with TimeoutError once ``deadline()`` (a monotonic time) has
    passed, however the bytes trickle in."""

    def __init__(self, sock: socket.socket, deadline) -> None:
        self.sock, self.deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline() - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long to arrive")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


def busy_answer(max_connections: int) -> bytes:
    body = json.dumps(
        {"error": f"the server has {max_connections} connections open; try again shortly"}
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nCache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def refuse(sock: socket.socket, answer: bytes) -> None:
    """Answer 503 and close, reading what the client sends meanwhile so the answer arrives."""
    try:
        sock.settimeout(REFUSAL_LINGER)
        sock.sendall(answer)
        sock.shutdown(socket.SHUT_WR)
        ends = time.monotonic() + REFUSAL_LINGER
        while time.monotonic() < ends and sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        sock.close()


class CappedServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer with at most ``max_connections`` connections (threads) at once."""

    daemon_threads = True

    def __init__(self, address, handler, *, max_connections: int = MAX_CONNECTIONS) -> None:
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._refusals = threading.BoundedSemaphore(MAX_REFUSALS)
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        if self._slots.acquire(blocking=False):
            try:
                super().process_request(request, client_address)
            except BaseException:
                self._slots.release()
                raise
            return
        if self._refusals.acquire(blocking=False):
            answer = busy_answer(self.max_connections)
            threading.Thread(target=self._refuse, args=(request, answer), daemon=True).start()
        else:
            self.shutdown_request(request)

    def _refuse(self, request: socket.socket, answer: bytes) -> None:
        try:
            refuse(request, answer)
        finally:
            self._refusals.release()

    def process_request_thread(self, request, client_address) -> None:
        with self._open_lock:
            self._open[request] = threading.current_thread()
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(request, None)
            self._slots.release()

    def server_close(self) -> None:
        """Stop listening, end every open connection and wait for the requests in progress to
        finish: no thread is left computing while the interpreter shuts down (Ctrl-C)."""
        with self._open_lock:
            connections = dict(self._open)
        for connection in connections:
            try:  # a thread waiting for a request wakes up to its end
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        super().server_close()  # (the standard library does not join daemon threads)
        for thread in connections.values():
            thread.join(CLOSE_WAIT)
