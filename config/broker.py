"""The Redis broker transport, with one kombu defect mended (settings.CELERY_BROKER_TRANSPORT).

When a worker loses Redis, Celery's consumer first collects its broker connection
(kombu's `Connection.collect`) and then closes it. If the collect finds the channel waiting on
its poll, reading the poll's reply fails (Redis is gone), the channel stays open, and the collect
releases the transport's client all the same. A redis channel builds its connection pools from
that client, lazily, and throws them away when it closes; so two things then reach for a pool
the channel can no longer build, and each ended the worker process on an AttributeError
("Unrecoverable error") instead of letting it reconnect:
- the close, putting the worker's unacknowledged tasks back on the queue;
- after the reconnect, the acknowledgement of a task that was running through the outage.
A worker whose first task was still running when Redis went away (a digest's first minute)
met them every time (tests/integration/test_service_faults.py, Redis restarted mid-send).

Here a channel keeps the connection parameters it was opened with, and builds its pools from
them once its transport is released. Then both go as they do when the collect succeeds: the
close tries to put the tasks back (against a server that is gone, a connection error Celery
ignores; they wait in Redis's own index of unacknowledged messages until `visibility_timeout`),
and the late acknowledgement reaches the server that came back.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

from kombu.transport import redis


class Channel(redis.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opened_with = super()._connparams  # type: ignore[misc]  # kombu's stubs omit it
        self._kept_params = {flag: opened_with(asynchronous=flag) for flag in (False, True)}

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or transport.client is None:  # released: see the module's text
            return dict(self._kept_params[asynchronous])
        return dict(super()._connparams(asynchronous=asynchronous))  # type: ignore[misc]


class Transport(redis.Transport):
    Channel = Channel


def ssl_options(url: str) -> dict[str, Any] | None:
    """Celery's `broker_use_ssl` for a broker URL (settings.CELERY_BROKER_USE_SSL).

    Named by the URL's scheme, kombu would default to TLS without checking the certificate; the
    cache (redis-py) checks it for a `rediss://` URL, and so does the broker.
    `?ssl_cert_reqs=none` in the URL opts out for both.
    """
    return {"ssl_cert_reqs": ssl.CERT_REQUIRED} if urlsplit(url).scheme == "rediss" else None
