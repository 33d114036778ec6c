"""Free loopback ports for the servers the kit starts (SMTP sinks, a `make run` under test)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now; another process could still take it before we bind."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
