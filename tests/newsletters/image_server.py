"""A local web server with pictures for the image-size tests, counting the bytes it sends."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def picture(width: int, height: int, *, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "#3366aa").save(buffer, format=kind)
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG signature and header chunk saying `width` by `height`, with no pixels after it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    # Pillow reads the chunks up to the first IDAT before it gives the size: an empty one.
    idat = struct.pack(">I", 0) + b"IDAT" + struct.pack(">I", zlib.crc32(b"IDAT"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat


@dataclass
class ImageServer:
    url: str
    routes: dict[str, tuple[int, dict[str, str], bytes]]
    sent: dict[str, int] = field(default_factory=dict)  # bytes of body written per path


@contextmanager
def image_server() -> Iterator[ImageServer]:
    """Serves `routes` (path -> (status, headers, body)) on 127.0.0.1; a path with status 200 and
    a body longer than 64 KB is written in 16 KB pieces, and stops once the client hangs up."""
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    sent: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = routes.get(self.path, (404, {}, b"not here"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            sent[self.path] = 0
            try:
                for start in range(0, len(body), 16 * 1024):
                    piece = body[start : start + 16 * 1024]
                    self.wfile.write(piece)
                    sent[self.path] += len(piece)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the reader had what it needed

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ImageServer(url=f"http://127.0.0.1:{server.server_port}", routes=routes, sent=sent)
    finally:
        server.shutdown()
        server.server_close()
