"""The shared send-rate throttle, against the suite's real Redis (each test on its own bucket)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from devtools.ports import free_port
from newsletters.delivery import throttle
from newsletters.delivery.throttle import (
    ThrottleUnavailable,
    throttle_effective_rate,
    throttle_slow_down,
    throttle_take,
)
from operations.redis_client import redis_client

ROOT = Path(__file__).resolve().parents[2]

# A second process taking from the same bucket: it says "ready" once imported, then reads the
# shared start and stop instants, takes as fast as allowed and prints its timestamps as JSON.
_TAKER = """
import json, sys
from tests.newsletters.test_throttle import take_as_fast_as_allowed
print("ready", flush=True)
start_at, stop_at = map(float, sys.stdin.readline().split())
stamps = take_as_fast_as_allowed(
    backend_key=sys.argv[1], rate=float(sys.argv[2]), start_at=start_at, stop_at=stop_at
)
print(json.dumps(stamps), flush=True)
"""


@pytest.fixture
def backend_key() -> Iterator[str]:
    key = f"test-{uuid.uuid4().hex}"
    yield key
    redis_client().delete(throttle.KEY_PREFIX + key)


def take_as_fast_as_allowed(
    *, backend_key: str, rate: float, start_at: float, stop_at: float
) -> list[float]:
    """What a send loop does, minus the sending: the wall-clock time of every token taken."""
    stamps: list[float] = []
    time.sleep(max(0.0, start_at - time.time()))
    while (now := time.time()) < stop_at:
        wait = throttle_take(backend_key=backend_key, rate=rate)
        if wait == 0.0:
            stamps.append(time.time())
        else:
            time.sleep(min(wait, stop_at - now))
    return stamps


def test_unlimited_rate_never_waits_and_needs_no_redis() -> None:
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
        waits = {throttle_take(backend_key="smtp", rate=0, count=5) for _ in range(100)}
        assert waits == {0.0}
        assert throttle_effective_rate(backend_key="smtp", rate=0) == 0.0


def test_a_burst_up_to_capacity_then_waits_for_the_tokens(backend_key: str) -> None:
    rate, capacity = 400.0, 10  # 400/s * 25 ms

    for _ in range(2):  # a fresh bucket, then one left idle long enough to refill 40 if uncapped
        elapsed, wait = _two_takes(
            backend_key=backend_key, rate=rate, first=capacity, second=capacity
        )
        # The second take finds only what refilled since the first: it must wait for the rest.
        assert capacity / rate - elapsed <= wait <= capacity / rate
        assert wait > 0
        time.sleep(0.1)

    # Full again after the idle tenth of a second.
    assert throttle_take(backend_key=backend_key, rate=rate, count=capacity) == 0.0


def test_a_take_larger_than_the_bucket_is_granted_once_and_waited_out_after(
    backend_key: str,
) -> None:
    rate = 40.0  # capacity: one token

    elapsed, wait = _two_takes(backend_key=backend_key, rate=rate, first=4, second=1)

    assert 4 / rate - elapsed <= wait <= 4 / rate


def test_threads_and_processes_share_the_rate_without_a_window_above_it(backend_key: str) -> None:
    rate, seconds, warmup = 200.0, 2.0, 0.5
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env["REDIS_URL"] = settings.REDIS_URL
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _TAKER, backend_key, str(rate)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        start_at = time.time() + 0.2
        stop_at = start_at + seconds
        for child in children:
            assert child.stdin is not None
            child.stdin.write(f"{start_at} {stop_at}\n")
            child.stdin.flush()
        per_thread: list[list[float]] = [[], []]

        def run(index: int) -> None:
            per_thread[index] = take_as_fast_as_allowed(
                backend_key=backend_key, rate=rate, start_at=start_at, stop_at=stop_at
            )

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        per_process = [
            json.loads(child.communicate(timeout=30)[0].splitlines()[-1]) for child in children
        ]
    finally:
        for child in children:
            child.kill()
            child.wait()

    takers = per_thread + per_process
    stamps = sorted(stamp for taker in takers for stamp in taker)
    # Sustained: past the first moments (the initial burst, threads still starting).
    steady = [stamp for stamp in stamps if stamp >= start_at + warmup]
    sustained = len(steady) / (stop_at - start_at - warmup)
    busiest = _busiest_second(stamps)
    print(
        f"sustained {sustained:.1f}/s, busiest 1 s window {busiest}, per taker "
        f"{[len(taker) for taker in takers]}"
    )

    # 1% above R allows for the two edges of the measuring interval (a token or two).
    assert 0.95 * rate <= sustained <= 1.01 * rate
    assert busiest <= 1.05 * rate
    assert all(len(taker) >= 0.05 * len(stamps) for taker in takers)


def test_slow_down_halves_the_rate_for_the_hold_then_recovers(backend_key: str) -> None:
    rate = 200.0
    throttle_slow_down(backend_key=backend_key, hold_seconds=1.0)
    slowed_at = time.time()

    assert throttle_effective_rate(backend_key=backend_key, rate=rate) == 100.0
    stamps = take_as_fast_as_allowed(
        backend_key=backend_key, rate=rate, start_at=slowed_at, stop_at=slowed_at + 0.8
    )
    # 80 tokens at 100/s, plus the 2.5-token burst.
    assert 0.9 * 80 <= len(stamps) <= 83

    time.sleep(max(0.0, slowed_at + 1.2 - time.time()))
    assert throttle_effective_rate(backend_key=backend_key, rate=rate) == rate


def test_recovery_doubles_back_each_hold_period(backend_key: str) -> None:
    rate, hold = 100.0, 0.5
    throttle_slow_down(backend_key=backend_key, factor=0.25, hold_seconds=hold)
    slowed_at = time.time()

    seen = []
    for periods in (0, 1, 2, 3):  # read each in the middle of its hold period
        time.sleep(max(0.0, slowed_at + (periods + 0.5) * hold - time.time()))
        seen.append(throttle_effective_rate(backend_key=backend_key, rate=rate))

    assert seen == [25.0, 50.0, 100.0, 100.0]


def test_slow_downs_of_one_episode_count_once_and_later_ones_compound(
    backend_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(4):  # four workers see the same 421 at once
        throttle_slow_down(backend_key=backend_key, hold_seconds=30)
    assert throttle_effective_rate(backend_key=backend_key, rate=100) == 50.0

    monkeypatch.setattr(throttle, "SLOW_DOWN_GRACE", 0.0)  # the 421s keep coming later
    throttle_slow_down(backend_key=backend_key, hold_seconds=30)
    assert throttle_effective_rate(backend_key=backend_key, rate=100) == 25.0


def test_a_slowed_rate_never_drops_below_the_floor(backend_key: str) -> None:
    throttle_slow_down(backend_key=backend_key, factor=0.001, hold_seconds=30)

    assert throttle_effective_rate(backend_key=backend_key, rate=100) == throttle.FLOOR_RATE
    assert throttle_effective_rate(backend_key=backend_key, rate=0.5) == 0.5


def test_an_unreachable_redis_raises_throttle_unavailable_at_once() -> None:
    started = time.monotonic()
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
        with pytest.raises(ThrottleUnavailable):
            throttle_take(backend_key="smtp", rate=10)
        with pytest.raises(ThrottleUnavailable):
            throttle_slow_down(backend_key="smtp")
        with pytest.raises(ThrottleUnavailable):
            throttle_effective_rate(backend_key="smtp", rate=10)
    assert time.monotonic() - started < 5


def test_nonsense_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="count"):
        throttle_take(backend_key="smtp", rate=10, count=0)
    with pytest.raises(ValueError, match="factor"):
        throttle_slow_down(backend_key="smtp", factor=0)
    with pytest.raises(ValueError, match="hold_seconds"):
        throttle_slow_down(backend_key="smtp", hold_seconds=0)


def _two_takes(*, backend_key: str, rate: float, first: int, second: int) -> tuple[float, float]:
    """Take `first` tokens (must succeed), then `second`: (seconds both took, second's wait)."""
    started = time.monotonic()
    assert throttle_take(backend_key=backend_key, rate=rate, count=first) == 0.0
    wait = throttle_take(backend_key=backend_key, rate=rate, count=second)
    return time.monotonic() - started, wait


def _busiest_second(stamps: list[float]) -> int:
    """The most timestamps in any one-second window (stamps sorted)."""
    busiest, first = 0, 0
    for last, stamp in enumerate(stamps):
        while stamp - stamps[first] >= 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest
