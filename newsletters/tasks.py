"""Thin Celery adapters over the content domain: ids in (or nothing, for beat ticks), one call."""

from __future__ import annotations

from celery import shared_task

from newsletters import editions, feeds, proofs


@shared_task(expires=55)
def poll_feeds() -> None:
    # Beat tick: every feed that is due is polled; one bad feed is recorded on its row and never
    # stops the others.
    feeds.feeds_poll_due()


@shared_task(expires=55)
def prepare_editions() -> None:
    # Beat tick: compose each recurring edition whose slot is within its lead time.
    editions.editions_prepare_due()


@shared_task(acks_late=True, time_limit=120, soft_time_limit=90)
def send_test_digest(digest_id: int, to_email: str, name: str = "") -> None:
    proofs.digest_test_send(digest_id=digest_id, to_email=to_email, name=name)
