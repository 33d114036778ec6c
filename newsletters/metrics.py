"""/metrics for Prometheus: the whole cluster's figures, read from the database and Redis at
every scrape, so any web process answers the same and nothing is kept per process.

Each figure lives with what it measures, as the newsroom dashboard's do (dashboard.py): the
workers, queues and beat in operations/queues.py, the delivery engine's outcomes, backlog and
throttle in delivery/metrics.py, signups and confirmations in mailinglist/figures.py. This module
only names them for Prometheus. It is here because `newsletters` is the one app that may import
the other two (operations imports neither app; mailinglist never imports newsletters).

Counters are totals (`_total`); Prometheus turns them into per-second rates with `rate()`.
Before they go out, operations/metrics.py keeps each from ever reporting less than before.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from mailinglist.figures import AudienceCounters, audience_counters
from newsletters.delivery.failure_kinds import FAILURE_KINDS
from newsletters.delivery.metrics import (
    DeliveryTotals,
    delivery_totals,
    domain_pacing_rates,
    throttle_rates,
)
from operations.metrics import counters_never_lower
from operations.queues import worker_health

PREFIX = "newsdesk_"


class NewsdeskCollector:
    """Yields every metric, counted now (a prometheus_client custom collector)."""

    def collect(self) -> Iterator[Metric]:
        yield from _worker_metrics()
        totals = delivery_totals()
        yield from _counters(totals, audience_counters())
        yield from _backlog(totals)
        yield from _throttle()


def metrics_exposition(*, accept: str) -> tuple[bytes, str]:
    """The metrics, and their content type, in the format the scraper's Accept header asks for
    (Prometheus' text format unless it asks for OpenMetrics)."""
    encoder, content_type = choose_encoder(accept)
    return encoder(_REGISTRY), content_type


def _gauge(name: str, documentation: str, value: float | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, value=value)


def _counter(name: str, documentation: str, value: float | None = None) -> CounterMetricFamily:
    return CounterMetricFamily(PREFIX + name, documentation, value=value)


def _gauge_labelled(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, labels=labels)


def _worker_metrics() -> Iterator[Metric]:
    health = worker_health()
    yield _gauge(
        "redis_up",
        "1 if Redis (broker, cache, send-rate throttle) answered this scrape, else 0.",
        1 if health.is_redis_up else 0,
    )
    if not health.is_redis_up:
        return  # what only Redis knows is unknown, not zero
    depth = _gauge_labelled(
        "queue_depth", "Celery tasks waiting in each queue for a worker.", ["queue"]
    )
    for queue in health.queues:
        depth.add_metric([queue.name], queue.waiting)
    yield depth
    yield _gauge(
        "tasks_unacked",
        "Tasks a worker has taken and not yet acknowledged (running, or prefetched).",
        health.in_progress,
    )
    yield _gauge(
        "workers_alive", "Celery workers whose heartbeat is under 15 s old.", health.workers_alive
    )
    age = health.beat_seconds_ago
    yield _gauge(
        "beat_last_tick_age_seconds",
        "Seconds since a tick of Celery beat last reached a worker (+Inf: never).",
        math.inf if age is None else age,
    )


def _counters(totals: DeliveryTotals, audience: AudienceCounters) -> Iterator[Metric]:
    counted = counters_never_lower(
        {
            "sent": totals.sent,
            "skipped": totals.skipped,
            **{f"failed:{kind}": totals.failed[kind] for kind in FAILURE_KINDS},
            "signups": audience.signups,
            "confirmations": audience.confirmations,
        }
    )
    yield _counter(
        "messages_sent",
        "Digest messages the mail server or ESP accepted.",
        counted["sent"],
    )
    failed = CounterMetricFamily(
        PREFIX + "messages_failed",
        "Digest messages that failed for good, by reason: bounced (no such address), rejected "
        "(refused for another reason), expired (temporary failures until the retries ran out), "
        "other.",
        labels=["reason"],
    )
    for kind in FAILURE_KINDS:
        failed.add_metric([kind], counted[f"failed:{kind}"])
    yield failed
    yield _counter(
        "messages_skipped",
        "Digest messages not sent: the reader left, was suppressed or paused after the audience "
        "was taken, or the digest was cancelled.",
        counted["skipped"],
    )
    yield _counter(
        "signups",
        "Signup requests received from the form and the API (before double opt-in).",
        counted["signups"],
    )
    yield _counter(
        "confirmations",
        "Double opt-ins completed (confirmation links used).",
        counted["confirmations"],
    )


def _backlog(totals: DeliveryTotals) -> Iterator[Metric]:
    yield _gauge(
        "deliveries_pending",
        "Digest messages owed and not yet taken by a worker (digests sending or paused).",
        totals.pending,
    )
    yield _gauge(
        "deliveries_deferred",
        "Pending digest messages waiting for their retry time (a 4xx, or the server unreachable).",
        totals.deferred,
    )
    yield _gauge(
        "deliveries_in_flight",
        "Digest messages a worker has claimed and not yet recorded.",
        totals.sending,
    )
    yield _gauge(
        "oldest_due_delivery_age_seconds",
        "Seconds the oldest due message of a digest being sent has waited (0: none is due).",
        totals.oldest_due_seconds,
    )


def _throttle() -> Iterator[Metric]:
    rates = throttle_rates()
    yield _gauge(
        "throttle_configured_messages_per_second",
        "SEND_RATE: messages per second for all workers together (0: unlimited).",
        rates.configured,
    )
    if rates.effective is not None:
        yield _gauge(
            "throttle_effective_messages_per_second",
            "Messages per second the shared throttle allows now: SEND_RATE, or less while the "
            "mail server asks us to slow down (0: unlimited).",
            rates.effective,
        )
    paces = domain_pacing_rates()
    if paces is not None:
        gauge = _gauge_labelled(
            "domain_pacing_messages_per_second",
            "Messages per second each receiving-domain group may be sent now: its "
            "DOMAIN_SEND_RATES rate, or less while its domain asks us to slow down (0: no limit "
            "of its own beyond SEND_RATE).",
            ["group"],
        )
        for group, rate in paces.items():
            gauge.add_metric([group], rate)
        yield gauge


# Private: prometheus_client's global registry would add this process's own figures (its
# garbage collector, its CPU), which differ from one web process to the next.
_REGISTRY = CollectorRegistry(auto_describe=False)
_REGISTRY.register(NewsdeskCollector())
