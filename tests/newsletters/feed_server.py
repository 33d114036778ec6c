"""A real HTTP server on 127.0.0.1 for the feed tests: it serves the files in feeds/ and answers
the way real feed servers do, badly included (304, 500, hanging, redirecting elsewhere)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FEEDS_DIR = Path(__file__).parent / "feeds"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str = ""  # when set, a request whose If-None-Match matches gets a 304
    last_modified: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line: a server that hangs
    body_delay: float = 0.0  # seconds between the headers and the body: one that stalls


@dataclass(frozen=True)
class SeenRequest:
    path: str
    headers: dict[str, str]  # names in lower case


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[SeenRequest] = []
        # Set when the test ends, so a handler sleeping in a "hang" returns at once.
        self.released = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, *, file: str | None = None, **route: object) -> str:
        """Answer `path` with `file` from feeds/ (or the Route fields given); returns its URL."""
        if file is not None:
            route.setdefault("body", (FEEDS_DIR / file).read_bytes())
        self.routes[path] = Route(**route)  # type: ignore[arg-type]
        return self.url(path)

    def seen(self, path: str) -> list[SeenRequest]:
        return [request for request in self.requests if request.path == path]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.released.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler_for(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen = {name.lower(): value for name, value in self.headers.items()}
            server.requests.append(SeenRequest(self.path, seen))
            route = server.routes.get(self.path)
            if route is None:
                self._answer(404, b"not found", {"Content-Type": "text/plain"})
                return
            if route.delay and server.released.wait(route.delay):
                return
            validators = {"ETag": route.etag, "Last-Modified": route.last_modified}
            validators = {name: value for name, value in validators.items() if value}
            if (route.etag and self.headers.get("If-None-Match") == route.etag) or (
                route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
            ):
                self._answer(304, b"", validators)
                return
            headers = {"Content-Type": route.content_type, **validators, **route.headers}
            self._answer(route.status, route.body, headers, body_delay=route.body_delay)

        def _answer(
            self, status: int, body: bytes, headers: dict[str, str], body_delay: float = 0.0
        ) -> None:
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.flush()
                if body_delay and server.released.wait(body_delay):
                    return
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first: that is what the timeout tests want

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: pytest shows what matters

    return Handler


@contextmanager
def feed_server_running() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
