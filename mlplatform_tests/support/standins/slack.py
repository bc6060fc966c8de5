"""A Slack incoming-webhook stand-in on 127.0.0.1 that records what the platform posts, or
resets every connection (a network fault)."""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class SlackStandIn:
    url: str
    bodies: list[dict] = field(default_factory=list)

    def events(self) -> list[tuple[str, str]]:
        """(event, message) of every post, in order, parsed back from the Slack text."""
        pairs = []
        for body in self.bodies:
            header, message = body["text"].split("\n", 1)
            shown = message.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
            pairs.append((header.removeprefix("*mlplatform · ").removesuffix("*"), shown))
        return pairs

    def messages(self, event: str) -> list[str]:
        return [message for name, message in self.events() if name == event]


@contextmanager
def slack_stand_in(reset: bool = False) -> Iterator[SlackStandIn]:
    """With `reset`, every request is answered by a TCP reset instead of a response."""
    captured: list[dict] = []

    class Capture(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if reset:  # SO_LINGER 0: close() sends RST
                linger = struct.pack("ii", 1, 0)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.close_connection = True
                self.connection.close()
                return
            length = int(self.headers["Content-Length"])
            captured.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield SlackStandIn(f"http://127.0.0.1:{server.server_address[1]}/hook", captured)
    finally:
        server.shutdown()
        server.server_close()
