"""Live claims: a batch that holds ledger rows says so in Redis every few seconds.

A batch claims its rows under a token (one UPDATE), and a keeper thread in the same process
refreshes a short-lived key for that token while the batch runs. When the process dies (its host
lost, its pool child killed by the OOM killer) or the batch ends on an error (the database gone
mid-send), the key stops being refreshed, and within CLAIM_TTL the reconciler can see that the
rows are held by no one and put them back — in about a minute, not the ten of the ledger's lease.

Redis forgets too: a FLUSHALL, or a restart (even with AOF, since keys expire during the
downtime), removes the keys of batches that are alive and well. Their keepers write them again
within REFRESH_SECONDS, so for CLAIM_TTL after Redis (or its data) is new the reconciler is told
"cannot tell" and releases nothing by this route. Both clocks used here are Redis's own (TIME),
so hosts with skewed clocks agree.

A keeper that cannot refresh its key for half the TTL marks itself lost, and the batch stops
sending before anyone else could take its rows: a worker cut off from Redis never races the
worker that inherits its claims.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from types import TracebackType

import redis
from redis.commands.core import Script

from operations.redis_client import redis_client

logger = logging.getLogger(__name__)

KEY_PREFIX = "newsdesk:claim:"
# When the claim keys began to exist (Redis TIME, seconds), written once after each flush/restart.
SINCE_KEY = "newsdesk:claims:since"
REFRESH_SECONDS = 5.0
# Four missed refreshes: a busy host rides it out, a dead one is noticed within 20 s.
CLAIM_TTL = 20

_REFRESH = """
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
redis.call('SET', KEYS[2], redis.call('TIME')[1], 'NX')
return 1
"""


def _key(token: str) -> str:
    return f"{KEY_PREFIX}{token}"


def _refresh_script() -> Script:
    return redis_client().register_script(_REFRESH)


class ClaimKeeper:
    """Keeps the claim `token` alive in Redis while the `with` block runs.

    Entered before the claim is written, so no reconciler ever sees a claim without its key.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self._stop = threading.Event()
        self._last_ok = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"claim {token}", daemon=True)

    @property
    def lost(self) -> bool:
        """True once the key may have expired: another worker may now hold these rows."""
        return time.monotonic() - self._last_ok > CLAIM_TTL / 2

    def __enter__(self) -> ClaimKeeper:
        self._refresh()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        # If Redis is away, the key expires by itself within CLAIM_TTL.
        with contextlib.suppress(redis.RedisError):
            redis_client().delete(_key(self.token))

    def _run(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            self._refresh()

    def _refresh(self) -> None:
        try:
            _refresh_script()(keys=[_key(self.token), SINCE_KEY], args=[CLAIM_TTL])
        except redis.RedisError as exc:
            logger.warning("Claim %s not refreshed (REDIS_URL unreachable): %s", self.token, exc)
            return
        self._last_ok = time.monotonic()


def claims_dead(tokens: Iterable[str]) -> set[str] | None:
    """Which of `tokens` no keeper refreshes any more; None when Redis cannot tell yet.

    Redis cannot tell while its claim keys are younger than CLAIM_TTL (just flushed, just
    restarted): a missing key may then belong to a batch that is alive and about to rewrite it.
    """
    tokens = sorted(set(tokens))
    client = redis_client()
    pipe = client.pipeline(transaction=False)
    pipe.time()
    pipe.get(SINCE_KEY)
    pipe.info("server")
    for token in tokens:
        pipe.exists(_key(token))
    now, since, server, *exists = pipe.execute()
    redis_now = int(now[0])
    if since is None or redis_now - int(since) < CLAIM_TTL:
        return None
    if int(server.get("uptime_in_seconds", 0)) < CLAIM_TTL:
        return None
    return {token for token, found in zip(tokens, exists, strict=True) if not found}
