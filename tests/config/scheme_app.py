"""A WSGI app for tests/config/test_gunicorn.py: answers what reached it of the request's scheme."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = json.dumps(
        {
            "url_scheme": environ["wsgi.url_scheme"],
            "x_forwarded_proto": environ.get("HTTP_X_FORWARDED_PROTO"),
            "remote_addr": environ.get("REMOTE_ADDR"),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
