"""gunicorn's settings for the Procfile's `web` process: `gunicorn --config config/gunicorn.py`.

gunicorn reads this file before Django loads, so it reads the environment itself and imports
nothing of the project (config/__init__.py would start the Celery app in gunicorn's master).

- `PORT` (8000) and `WEB_HOST` (127.0.0.1: only a proxy on this host reaches it, and `make run`'s
  DEBUG server stays off the network; the container image sets 0.0.0.0).
- `WEB_CONCURRENCY` worker processes (2) of `WEB_THREADS` threads each (4). Threads, not sync
  workers: a sync worker answering one long request (a streamed CSV export of a million rows)
  misses its heartbeat and is killed after `timeout`, cutting the download short.
- `TRUSTED_PROXIES`, the addresses or CIDRs Django believes X-Forwarded-For from, are the only
  peers whose X-Forwarded-Proto is believed here too (see `pre_request`).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

_TRUE = {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"Configuration error: {name} must be a whole number of 1 or more.")
    return int(raw)


def _networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    # Read as settings read TRUSTED_PROXIES (config/environment.py read_networks): 10.0.0.7/8
    # means 10.0.0.0/8, and a bad entry stops start-up rather than trusting less than was meant.
    networks = []
    for entry in os.environ.get(name, "").split(","):
        if not entry.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise SystemExit(
                f"Configuration error: {name} must be comma-separated IP addresses or CIDR "
                f"ranges; {entry.strip()!r} is neither."
            ) from None
    return networks


bind = [f"{os.environ.get('WEB_HOST', '').strip() or '127.0.0.1'}:{_int('PORT', 8000)}"]
worker_class = "gthread"
workers = _int("WEB_CONCURRENCY", 2)
threads = _int("WEB_THREADS", 4)
# A worker silent this long is hung and replaced; on SIGTERM (a deploy, Ctrl-C) requests in
# flight get graceful_timeout to finish.
timeout = 30
graceful_timeout = 30
# Behind a proxy that keeps connections to us open.
keepalive = 5
accesslog = "-"
errorlog = "-"
proc_name = "newsdesk-web"
# gunicorn 25+ opens a control socket by default, at one path per user ($HOME/.gunicorn): two
# gunicorns of one user (make run beside a test) would take each other's, and a unit's home may be
# read-only. Worker counts come from this file, not from runtime changes through it.
control_socket_disable = True
# The heartbeat file is touched constantly; on a container's overlay filesystem that can block.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - a RAM disk
# With DEBUG on (make run), a changed Python file restarts the workers, as runserver did.
reload = os.environ.get("DEBUG", "").strip().lower() in _TRUE

TRUSTED = _networks("TRUSTED_PROXIES")
# gunicorn sets wsgi.url_scheme from these peers' X-Forwarded-Proto only.
forwarded_allow_ips = ",".join(str(network) for network in TRUSTED)


def peer_is_trusted(peer: object) -> bool:
    """Whether a request from `peer` came through one of our proxies (a UNIX socket always did)."""
    if not isinstance(peer, tuple):
        return True
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return False
    return any(address in network for network in TRUSTED)


def pre_request(worker: Any, req: Any) -> None:
    """Drop scheme headers (X-Forwarded-Proto, …) that a peer other than our proxies sent.

    gunicorn ignores them from such a peer but still passes them on to Django, and Django's
    SECURE_PROXY_SSL_HEADER believes X-Forwarded-Proto from anyone: a client reaching gunicorn
    directly could pass a plain-HTTP request off as HTTPS.
    """
    if peer_is_trusted(req.peer_addr):
        return
    scheme_headers = {name.upper() for name in worker.cfg.secure_scheme_headers}
    req.headers = [(name, value) for name, value in req.headers if name not in scheme_headers]
