"""A loopback HTTP server that serves a source directory, failing the first requests on demand."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _FlakyHandler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        server = self.server
        with server.lock:
            server.requests += 1
            fail = server.failures_left > 0
            server.failures_left -= fail
        if fail:
            self.send_error(503, "Service Unavailable")
        else:
            super().do_GET()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve_directory(directory: Path, failures: int = 0) -> Iterator[ThreadingHTTPServer]:
    """Serve `directory` on 127.0.0.1; the first `failures` requests answer 503."""
    handler = functools.partial(_FlakyHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.lock, server.requests, server.failures_left = threading.Lock(), 0, failures
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
