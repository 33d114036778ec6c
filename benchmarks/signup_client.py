"""The signup benchmark's HTTP clients: prime a form like a browser, then POST back to back.

Plain sockets, one connection per request (gunicorn's sync workers close after every response),
so a client costs the server exactly what a browser's request would. Split from signup_path.py.
"""

from __future__ import annotations

import html
import re
import secrets
import socket
import string
import sys
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection

FORM_PATH = "/subscribe/"
THANKS_PATH = "/subscribe/thanks/"


@dataclass(frozen=True)
class Client:
    """What one client took from its GET of the form: it reuses them for every POST."""

    cookie: str
    csrf_token: str
    form_token: str


def client_prime(port: int) -> Client:
    """GET the form as a browser would: its time-trap stamp (and a CSRF pair for the bare view).

    The signup form carries no CSRF token (it sits in cached pages; see mailinglist/protection.py),
    but the bare view keeps Django's CSRF check, so the client makes up the pair a browser would
    hold: a 32-character secret as both the cookie and the unmasked token.
    """
    status, _head, body = http_request(port, http_get(port, FORM_PATH))
    page = body.decode("utf-8")
    stamp = re.search(r'name="form_token" value="([^"]+)"', page)
    if status != 200 or not stamp:
        sys.exit(f"GET {FORM_PATH} gave no usable form ({status})")
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    return Client(
        cookie=f"csrftoken={secret}",
        csrf_token=secret,
        form_token=html.unescape(stamp.group(1)),
    )


def client_loop(
    results: Connection,
    parts: tuple[bytes, bytes],
    *,
    port: int,
    kind: str,
    start_at: float,
    seconds: float,
) -> None:
    """POST new addresses back to back until the window closes; send the counts back."""
    before, after = parts
    cpu_at_start = time.process_time()
    stop_at = start_at + seconds
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    in_window = total = 0
    bad_example = ""
    time.sleep(max(0.0, start_at - time.time()))
    while (sent_at := time.time()) < stop_at:
        request = before + b"%07d" % total + after
        try:
            status, head, body = http_request(port, request)
        except OSError as exc:
            status, head, body = 0, str(exc).encode(), b""
        done_at = time.time()
        total += 1
        if _accepted(kind, status, head, body):
            statuses["ok"] += 1
        else:
            statuses[str(status)] += 1
            bad_example = bad_example or (head + b"\r\n\r\n" + body[:500]).decode("latin-1")
        if done_at <= stop_at:
            in_window += 1
            latencies.append((done_at - sent_at) * 1000)
    results.send(
        {
            "in_window": in_window,
            "total": total,
            "statuses": dict(statuses),
            "bad_example": bad_example,
            "latencies_ms": latencies,
            "cpu": time.process_time() - cpu_at_start,
        }
    )
    results.close()


def _accepted(kind: str, status: int, head: bytes, body: bytes) -> bool:
    if kind == "bare":
        return status == 200 and body == b"ok"
    location = re.search(rb"(?im)^location:\s*(\S+)", head)
    return status == 302 and location is not None and location.group(1) == THANKS_PATH.encode()


def http_request(port: int, request: bytes) -> tuple[int, bytes, bytes]:
    """Send one request on a new connection and read the answer to EOF (the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split(b" ")
    return (int(status_line[1]) if len(status_line) > 1 else 0), head, body


def http_get(port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: newsdesk-signup-bench\r\n"
        "Accept: text/html\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
