"""Acceptance of per-domain pacing: a provider that says 421 to us slows its own group alone.

Real workers and beat (tests/integration/cluster.py, second-scale ticks and holds), a real Redis
and the recording sink, which answers "421 4.7.0 Try again later" at RCPT TO to every gmail.com
reader for a while. The other groups keep their rate, gmail is slowed and then recovers, and
every reader gets the digest exactly once.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from devtools.smtp_sink import SmtpSink
from devtools.workers import database_url
from mailinglist.models import Subscriber, Subscription
from newsletters import scheduling
from newsletters.delivery import pacing, progress
from newsletters.models import Delivery, Digest
from tests.factories import MailingListFactory
from tests.integration.cluster import Cluster, cluster_running, is_sent
from tests.mail_transport import transport_to
from tests.newsletters.digests import make_digest
from tests.polling import wait_until

pytestmark = pytest.mark.integration
Row = Delivery.State

SEND_RATE = 60.0
RATES = {"gmail": 15.0, "outlook": 10.0, "yahoo": 10.0}  # "other": no limit beyond SEND_RATE
READERS = {"gmail.com": 150, "outlook.com": 200, "yahoo.com": 200, "example.com": 200}
REFUSED_SECONDS = 10.0


@pytest.fixture
def paced_cluster(
    transactional_db: None, sink: SmtpSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cluster]:
    """Second-scale ticks, backoffs and holds (tests.fault_settings), SEND_RATE and group rates."""
    monkeypatch.setenv("DOMAIN_SEND_RATES", ",".join(f"{g}={r:g}" for g, r in RATES.items()))
    with cluster_running(
        db_url=database_url(connection.settings_dict),
        email_url=sink.url,
        workdir=tmp_path,
        settings_module="tests.fault_settings",
        send_rate=SEND_RATE,
    ) as running:
        yield running


def _digest() -> Digest:
    """A digest due now, its readers' domains interleaved so that every batch has all four."""
    digest = make_digest(stories=1, mailing_list=MailingListFactory.create())
    order = sorted(
        (n / count, domain, n) for domain, count in READERS.items() for n in range(count)
    )
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(email=f"r{n}@{domain}", public_id=f"pace-{domain}-{n}") for _, domain, n in order
    )
    Subscription.objects.bulk_create(
        Subscription(
            subscriber=s, mailing_list=digest.mailing_list, state=Subscription.State.ACTIVE
        )
        for s in subscribers
    )
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    return digest


def _rate(stamps: list[float], start: float, end: float) -> float:
    return sum(start <= at < end for at in stamps) / (end - start)


def _gmail_held(digest: Digest) -> str | None:
    """The desk's progress line once it says gmail is holding the digest back."""
    text = str(progress.digest_progress_report(digest=Digest.objects.get(pk=digest.pk))["text"])
    return text if "gmail: slowed to" in text else None


def test_a_421_to_one_domain_group_slows_it_alone_and_it_recovers(
    paced_cluster: Cluster, sink: SmtpSink, say: Callable[[str], None]
) -> None:
    sink.refuse_domains(["gmail.com"])
    for name in ("first", "second"):
        paced_cluster.worker_start(name)
    digest = _digest()
    paced_cluster.beat_start()
    # The test reads progress as the desk would: through the cluster's Redis and server.
    with (
        transport_to(sink.port),
        override_settings(
            REDIS_URL=paced_cluster.redis_url, SEND_RATE=SEND_RATE, DOMAIN_SEND_RATES=RATES
        ),
    ):
        wait_until(lambda: sink.domain_refused, timeout=30)
        refused_at = time.monotonic()
        held = wait_until(lambda: _gmail_held(digest), timeout=5)
        time.sleep(max(0.0, refused_at + REFUSED_SECONDS - time.monotonic()))
        sink.accept_domains()
        accepted_at = time.monotonic()
        wait_until(lambda: is_sent(digest), timeout=90, interval=0.5)
        paces = {pace.group: pace for pace in pacing.pacing_states()}

    stamps: dict[str, list[float]] = {domain: [] for domain in READERS}
    for message in sink.received:
        stamps[message.rcpt_tos[0].rpartition("@")[2]].append(message.at)
    window = (refused_at + 1.0, accepted_at)
    rates = {domain: _rate(at, *window) for domain, at in stamps.items()}
    other_span = max(stamps["example.com"]) - min(stamps["example.com"])
    gmail_first = [at - accepted_at for at in sorted(stamps["gmail.com"])[:5]]
    say(
        "while gmail was refused: "
        + ", ".join(f"{domain} {rate:.1f}/s" for domain, rate in rates.items())
        + f"; other sent in {other_span:.1f} s; gmail's first after the refusals ended at "
        + ", ".join(f"{at:.1f}" for at in gmail_first)
        + f" s; digest done {time.monotonic() - accepted_at:.1f} s after; progress said: {held}"
    )

    # The other groups kept their rate while gmail was refused.
    assert rates["gmail.com"] == 0
    for domain, group in (("outlook.com", "outlook"), ("yahoo.com", "yahoo")):
        assert 0.75 * RATES[group] <= rates[domain] <= 1.1 * RATES[group], domain
    assert READERS["example.com"] / other_span > max(RATES.values())  # held to no group's pace
    # Gmail was slowed: its first messages after the refusals came at the cut rate, not 15/s.
    assert _rate(stamps["gmail.com"], accepted_at, accepted_at + 2.0) < RATES["gmail"] / 2
    # ... and recovered: the whole group went out, the bucket back to its own rate.
    assert not paces["gmail"].is_slowed and paces["gmail"].rate == RATES["gmail"]
    assert re.search(
        r"gmail: slowed to [0-9.]+/s after 421 4\.7\.0 \(recovering\), [0-9,]+ messages? waiting",
        held,
    )
    # Counts add up: every reader exactly once, the ledger all sent, nothing failed.
    received = Counter(r.rcpt_tos[0] for r in sink.received)
    assert len(received) == sum(READERS.values()) and set(received.values()) == {1}
    counts = progress.digest_counts(digest_id=digest.pk)
    assert counts["sent"] == counts["total"] == sum(READERS.values())
    assert counts["failed"] == 0
    assert sink.domain_refused > 0
    # Refusals cost attempts only of the few gmail readers tried while it refused.
    attempts = Counter(Delivery.objects.filter(digest=digest).values_list("attempts", flat=True))
    assert max(attempts) < 8


def test_a_group_held_to_its_own_rate_keeps_it_without_the_reconciler(
    transactional_db: None,
    sink: SmtpSink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    say: Callable[[str], None],
) -> None:
    # One block of outlook readers, paced at 20/s: a batch sends half a second's worth and puts
    # the rest back; the block must come round again by itself (the reconciler ticks every 10
    # minutes here), or the digest would stall.
    rate, readers = 20.0, 120
    monkeypatch.setenv("DOMAIN_SEND_RATES", f"outlook={rate:g}")
    with cluster_running(
        db_url=database_url(connection.settings_dict),
        email_url=sink.url,
        workdir=tmp_path,
        settings_module="tests.slow_reconcile_settings",
        send_rate=SEND_RATE,
    ) as cluster:
        cluster.worker_start("only")
        digest = make_digest(stories=1, mailing_list=MailingListFactory.create())
        subscribers = Subscriber.objects.bulk_create(
            Subscriber(email=f"r{n}@outlook.com", public_id=f"own-rate-{n}") for n in range(readers)
        )
        Subscription.objects.bulk_create(
            Subscription(
                subscriber=s, mailing_list=digest.mailing_list, state=Subscription.State.ACTIVE
            )
            for s in subscribers
        )
        scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
        cluster.beat_start()
        wait_until(lambda: is_sent(digest), timeout=60, interval=0.5)

    stamps = sorted(message.at for message in sink.received)
    achieved = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    say(f"outlook held to {rate:g}/s: {readers} readers at {achieved:.1f}/s, no reconciler tick")
    assert len(stamps) == readers
    assert 0.75 * rate <= achieved <= 1.1 * rate
