"""Live claims: a dead batch's rows come back within a minute, a live one's never do."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import override_settings

from devtools.ports import free_port
from newsletters.delivery import claims, progress, reconciler, record, snapshot
from newsletters.models import Delivery
from operations.redis_client import redis_client
from tests.newsletters.digests import sending_digest

pytestmark = pytest.mark.django_db
Row = Delivery.State


@pytest.fixture
def redis_can_tell() -> Iterator[None]:
    """Claim keys that have existed longer than their lifetime: a missing key means a dead batch."""
    client = redis_client()
    client.set(claims.SINCE_KEY, int(client.time()[0]) - 10 * claims.CLAIM_TTL)
    yield
    client.delete(claims.SINCE_KEY)


def _claimed(readers: int, tokens: list[str], django_capture_on_commit_callbacks) -> list[int]:
    digest = sending_digest(readers=readers)
    with django_capture_on_commit_callbacks(execute=False):
        snapshot.digest_snapshot(digest_id=digest.pk)
    pks = list(Delivery.objects.filter(digest=digest).order_by("pk").values_list("pk", flat=True))
    per = len(pks) // len(tokens)
    for n, token in enumerate(tokens):
        Delivery.objects.filter(pk__in=pks[n * per : (n + 1) * per]).update(
            state=Row.SENDING, claimed_by=token, claimed_at=digest.updated_at
        )
    return pks


def test_a_keeper_keeps_its_claim_alive_and_takes_it_away_when_done() -> None:
    client = redis_client()
    with claims.ClaimKeeper("w1@host:abc") as keeper:
        assert client.ttl(f"{claims.KEY_PREFIX}w1@host:abc") > claims.CLAIM_TTL - 2
        assert client.get(claims.SINCE_KEY) is not None
        assert not keeper.lost
    assert not client.exists(f"{claims.KEY_PREFIX}w1@host:abc")


def test_a_dead_batch_s_rows_go_back_at_once_and_only_its_lowest_rows_are_flagged(
    redis_can_tell: None, django_capture_on_commit_callbacks
) -> None:
    pks = _claimed(8, ["dead@host:1", "alive@host:2"], django_capture_on_commit_callbacks)

    with claims.ClaimKeeper("alive@host:2"):
        result = reconciler.deliveries_reconcile()

    assert result["expired"] == 4
    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=pks)}
    assert [rows[pk].state for pk in pks] == [Row.PENDING] * 4 + [Row.SENDING] * 4
    # Rows are sent and recorded in row order: only the lowest could be on the wire, and on
    # PostgreSQL the one before it too, whose sent mark may not have reached the server.
    wire = record.unrecorded_per_connection(connection.vendor)
    assert wire == (2 if connection.vendor == "postgresql" else 1)
    assert [rows[pk].expired_claims for pk in pks] == [1] * wire + [0] * (8 - wire)
    assert "twice" in rows[pks[0]].last_error
    assert progress.digest_possible_duplicates(digest_id=rows[pks[0]].digest_id) == wire


def test_just_after_a_flush_or_restart_nothing_is_released_by_a_missing_key(
    django_capture_on_commit_callbacks,
) -> None:
    redis_client().delete(claims.SINCE_KEY)  # what a FLUSHALL leaves
    pks = _claimed(4, ["busy@host:1"], django_capture_on_commit_callbacks)

    assert claims.claims_dead(["busy@host:1"]) is None
    assert reconciler.deliveries_reconcile()["expired"] == 0
    assert set(Delivery.objects.filter(pk__in=pks).values_list("state", flat=True)) == {Row.SENDING}

    # The keepers write their keys again within seconds; from then on Redis can tell.
    with claims.ClaimKeeper("busy@host:1"):
        assert claims.claims_dead(["busy@host:1", "gone@host:2"]) is None  # keys still young
        since = redis_client().get(claims.SINCE_KEY)
    assert since is not None


def test_a_keeper_cut_off_from_redis_says_its_claim_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with claims.ClaimKeeper("cut@host:1") as keeper:
        monkeypatch.setattr(claims, "CLAIM_TTL", 0.4)
        with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
            keeper._refresh()  # what the keeper's thread does every few seconds
            assert keeper.lost is False  # the last good refresh is still recent
            time.sleep(0.3)
            keeper._refresh()
            assert keeper.lost is True
