"""Thin Celery adapters over the content domain: ids in (or nothing, for beat ticks), one call."""

from __future__ import annotations

from celery import Task, shared_task

from newsletters import editions, feeds, proofs, story_images
from newsletters.delivery import batch, dispatch, notices, reconciler, retention
from newsletters.inbound import mailbox
from operations.logcontext import log_context


@shared_task(expires=55)
def poll_feeds() -> None:
    # Beat tick: every feed that is due is polled; one bad feed is recorded on its row and never
    # stops the others.
    feeds.feeds_poll_due()


@shared_task(expires=55)
def prepare_editions() -> None:
    # Beat tick: compose each recurring edition whose slot is within its lead time.
    editions.editions_prepare_due()


@shared_task(acks_late=True, time_limit=60, soft_time_limit=45)
def measure_story_image(story_id: int) -> None:
    # A story's image changed: read its width and height for the digest's <img>.
    story_images.story_image_measure(story_id=story_id)


@shared_task(acks_late=True, time_limit=120, soft_time_limit=90)
def send_test_digest(digest_id: int, to_email: str, name: str = "") -> None:
    with log_context(digest_id=digest_id):
        proofs.digest_test_send(digest_id=digest_id, to_email=to_email, name=name)


@shared_task(expires=14)
def dispatch_due_digests() -> None:
    # Beat tick (every 15 s): start every scheduled digest whose time has come.
    dispatch.digests_dispatch_due()


@shared_task(acks_late=True, time_limit=60, soft_time_limit=45)
def notify_publisher(digest_id: int, action: str) -> None:
    # A send ended ("sent") or the engine paused it ("paused"): tell the person who started it.
    with log_context(digest_id=digest_id):
        notices.digest_notify_publisher(digest_id=digest_id, action=action)


@shared_task(acks_late=True, time_limit=540, soft_time_limit=480)
def start_digest(digest_id: int) -> None:
    # "Send now" (or an approval of a due digest): start without waiting for the beat tick,
    # which would start it anyway if this task were lost.
    with log_context(digest_id=digest_id):
        dispatch.digest_start(digest_id=digest_id)


@shared_task(bind=True, acks_late=True, time_limit=540, soft_time_limit=480)
def send_batch(self: Task[..., None], digest_id: int, first_id: int, last_id: int) -> None:
    # Every line logged while the batch runs names it (LOG_FORMAT=json: digest_id, batch).
    with log_context(digest_id=digest_id, batch=f"{first_id}-{last_id}"):
        batch.batch_send(
            digest_id=digest_id,
            first_id=first_id,
            last_id=last_id,
            worker=self.request.hostname or "",
        )


@shared_task(expires=25)
def reconcile_deliveries() -> None:
    # Beat tick (every 30 s): dead claims, lost batches, finished digests.
    reconciler.deliveries_reconcile()


@shared_task(expires=3600)
def retain_deliveries() -> None:
    # Daily: finished digests' ledgers older than DELIVERY_RETENTION_DAYS become counts.
    retention.deliveries_retain()


@shared_task(expires=55, time_limit=300)
def fetch_bounces() -> None:
    # Beat tick (every 60 s): bounce and complaint mail from BOUNCE_MAILBOX_URL; nothing at all
    # when it is unset. No soft limit: the fetch stops itself within its time budget, and a
    # message is removed only after it was applied, so even a hard kill loses nothing.
    mailbox.mailbox_fetch()
