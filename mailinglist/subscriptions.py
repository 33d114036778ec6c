"""What can happen to a subscription, and the record each change leaves.

Every function here keeps the same promises: a suppressed address is never made mailable, every
change of consent appends a ConsentEvent, and mail is enqueued only after the change commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy, gettext_noop

from mailinglist import protection
from mailinglist.addresses import email_hash
from mailinglist.models import (
    ConsentEvent,
    ConsentWording,
    MailingList,
    SignupRequest,
    Subscriber,
    Subscription,
    Suppression,
)

# Re-exported: callers across the product (the digest engine among them) import them from here.
from mailinglist.suppressions import is_suppressed as is_suppressed
from mailinglist.suppressions import signup_blocked as signup_blocked
from mailinglist.suppressions import suppression_add as suppression_add

State = Subscription.State

# The consent wording the reader sees beside the form; its hash is recorded with each signup so
# we can show later exactly what someone agreed to.
# The record keeps the English source: each translation says the same, and the reader's language
# is known from the page they signed up on.
FORM_CONSENT_WORDING = gettext_noop(
    "We'll email you the newsletters you pick. Every email has a link to change what you get "
    "or to unsubscribe in one click."
)
FORM_CONSENT_TEXT = gettext_lazy(FORM_CONSENT_WORDING)
FORM_VERSION = hashlib.sha256(FORM_CONSENT_WORDING.encode()).hexdigest()[:16]


def consent_wording_record(*, version: str) -> None:
    """Store the words of `version` the first time a record carries it (idempotent).

    Only the wording this process ships is known word for word; older versions were stored
    when they were current (the first one by migration 0006).
    """
    if version == FORM_VERSION:
        ConsentWording.objects.get_or_create(
            version=version, defaults={"text": FORM_CONSENT_WORDING}
        )


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, as recorded in consent events."""

    ip: str | None = None
    user_agent: str = ""
    source_url: str = ""


def consent_event_record(
    *,
    kind: str,
    subscriber: Subscriber | None,
    lists: Iterable[MailingList] = (),
    meta: RequestMeta | None = None,
    form_version: str = "",
    detail: dict[str, Any] | None = None,
    hashed_email: str = "",
) -> ConsentEvent:
    meta = meta or RequestMeta()
    return ConsentEvent.objects.create(
        subscriber=subscriber,
        email_hash=hashed_email,
        kind=kind,
        lists=sorted(mailing_list.slug for mailing_list in lists),
        ip=meta.ip,
        user_agent=meta.user_agent[:300],
        source_url=meta.source_url[:500],
        form_version=form_version,
        detail=detail or {},
    )


# --- Signup ------------------------------------------------------------------------------------


def subscriber_get_or_create(*, email: str, name: str = "") -> tuple[Subscriber, bool]:
    """The subscriber for `email` (matched ignoring case), created if new."""
    existing = Subscriber.objects.filter(email__iexact=email).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return Subscriber.objects.create(email=email, name=name), True
    except IntegrityError:
        # Another worker created it between our look-up and insert.
        return Subscriber.objects.get(email__iexact=email), False


@transaction.atomic
def signup_request_process(*, request_id: int) -> None:
    """Apply one stored signup by id (a `process_signup` task queued before the drain existed).

    Idempotent: a request already processed is left alone.
    """
    request = SignupRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is not None and request.processed_at is None:
        signup_request_apply(request=request)


def signup_request_apply(*, request: SignupRequest) -> None:
    """Apply a claimed, unprocessed signup: pending subscriptions, a consent event, at most one
    confirmation. Call inside the transaction that holds the row's lock.

    A suppressed address gets nothing; lists already active stay as they are; one confirmation
    per address per day.
    """
    request.processed_at = timezone.now()
    request.save(update_fields=["processed_at"])
    if signup_blocked(email=request.email):
        return
    lists = list(MailingList.objects.filter(slug__in=request.list_slugs, is_public=True))
    if not lists:
        return
    subscriber, created = subscriber_get_or_create(email=request.email, name=request.name)
    now = timezone.now()
    pending: list[MailingList] = []
    for mailing_list in lists:
        subscription, _ = Subscription.objects.get_or_create(
            subscriber=subscriber,
            mailing_list=mailing_list,
            defaults={"state": State.PENDING, "source": request.source, "requested_at": now},
        )
        if subscription.state == State.ACTIVE:
            continue
        subscription.state = State.PENDING
        subscription.requested_at = now
        subscription.save(update_fields=["state", "requested_at"])
        pending.append(mailing_list)
    consent_event_record(
        kind=ConsentEvent.Kind.SIGNUP,
        subscriber=subscriber,
        lists=lists,
        meta=RequestMeta(
            ip=request.ip, user_agent=request.user_agent, source_url=request.source_url
        ),
        form_version=request.form_version,
        detail={"source": request.source, "new_subscriber": created},
    )
    consent_wording_record(version=request.form_version)
    if pending:
        confirmation_send_limited(subscriber=subscriber, lists=pending)


def confirmation_send_limited(
    *, subscriber: Subscriber, lists: list[MailingList], queue: str | None = None
) -> bool:
    """Enqueue a confirmation unless this address had one in the last 24 h; True if enqueued.

    `queue` overrides the route: an import's thousands of confirmations go to `bulk`, so they
    never delay the one a reader on the site is waiting for.
    """
    from mailinglist.tasks import send_confirmation

    if not protection.confirmation_slot_take(email=subscriber.email):
        return False
    list_ids = [mailing_list.pk for mailing_list in lists]
    if queue is None:  # CELERY_TASK_ROUTES decides
        transaction.on_commit(lambda: send_confirmation.delay(subscriber.pk, list_ids))
    else:
        transaction.on_commit(
            lambda: send_confirmation.apply_async((subscriber.pk, list_ids), queue=queue)
        )
    return True


# --- Confirmation ------------------------------------------------------------------------------


@transaction.atomic
def subscription_confirm(
    *, subscriber: Subscriber, list_ids: list[int], meta: RequestMeta
) -> list[MailingList]:
    """Activate the pending subscriptions a confirmation link was made for; returns those lists.

    Subscriptions the reader left since the link was sent stay left: a stale link does not
    override a later "no".
    """
    subscriptions = list(
        Subscription.objects.select_for_update()
        .select_related("mailing_list")
        .filter(subscriber=subscriber, mailing_list_id__in=list_ids, state=State.PENDING)
    )
    if not subscriptions:
        return []
    now = timezone.now()
    for subscription in subscriptions:
        subscription.state = State.ACTIVE
        subscription.confirmed_at = now
        subscription.save(update_fields=["state", "confirmed_at"])
    confirmed = [subscription.mailing_list for subscription in subscriptions]
    # A new double opt-in is the one way back for an address that was erased on request.
    Suppression.objects.filter(
        email_hash=email_hash(subscriber.email), reason=Suppression.Reason.ERASED
    ).delete()
    # The confirmation is consent to what the reader asked for: the words beside that form.
    signed_up_with = (
        ConsentEvent.objects.filter(subscriber=subscriber, kind=ConsentEvent.Kind.SIGNUP)
        .exclude(form_version="")
        .values_list("form_version", flat=True)
        .first()
    )
    consent_event_record(
        kind=ConsentEvent.Kind.CONFIRM,
        subscriber=subscriber,
        lists=confirmed,
        meta=meta,
        form_version=signed_up_with or "",
    )
    welcome_ids = [m.pk for m in confirmed if m.is_welcome_enabled]
    if welcome_ids:
        from mailinglist.tasks import send_welcome

        transaction.on_commit(lambda: send_welcome.delay(subscriber.pk, welcome_ids))
    return confirmed


def subscriptions_all_active(*, subscriber: Subscriber, list_ids: list[int]) -> bool:
    """Whether the reader is already active on every one of `list_ids` (a used confirm link)."""
    wanted = set(list_ids)
    active = set(
        Subscription.objects.filter(
            subscriber=subscriber, mailing_list_id__in=wanted, state=State.ACTIVE
        ).values_list("mailing_list_id", flat=True)
    )
    return bool(wanted) and active == wanted


def confirmation_resend(*, subscriber: Subscriber, list_ids: list[int]) -> None:
    """Send a fresh confirmation for lists still pending (limited like every confirmation)."""
    lists = list(
        MailingList.objects.filter(
            pk__in=list_ids,
            subscriptions__subscriber=subscriber,
            subscriptions__state=State.PENDING,
        )
    )
    if lists and not signup_blocked(email=subscriber.email):
        confirmation_send_limited(subscriber=subscriber, lists=lists)


# --- Leaving and coming back -------------------------------------------------------------------


@transaction.atomic
def subscription_unsubscribe(
    *,
    subscriber: Subscriber,
    list_ids: list[int] | None,
    meta: RequestMeta,
    method: str,
    from_digest: int | None = None,
) -> list[MailingList]:
    """Unsubscribe from `list_ids` (None: from everything); returns the lists actually left.

    `method` says how (one-click, page, preferences, staff) and `from_digest` which digest's
    link was used, if one was, for the consent record.
    """
    query = (
        Subscription.objects.select_for_update()
        .select_related("mailing_list")
        .filter(subscriber=subscriber, state__in=[State.PENDING, State.ACTIVE])
    )
    if list_ids is not None:
        query = query.filter(mailing_list_id__in=list_ids)
    subscriptions = list(query)
    now = timezone.now()
    for subscription in subscriptions:
        subscription.state = State.UNSUBSCRIBED
        subscription.unsubscribed_at = now
        subscription.save(update_fields=["state", "unsubscribed_at"])
    left = [subscription.mailing_list for subscription in subscriptions]
    if left:
        consent_event_record(
            kind=ConsentEvent.Kind.UNSUBSCRIBE,
            subscriber=subscriber,
            lists=left,
            meta=meta,
            detail={"method": method, **({"digest": from_digest} if from_digest else {})},
        )
    return left


def subscription_is_current(*, subscriber: Subscriber, list_id: int) -> bool:
    """Whether the reader is on (or waiting to confirm) this list: something to unsubscribe from."""
    return Subscription.objects.filter(
        subscriber=subscriber, mailing_list_id=list_id, state__in=[State.PENDING, State.ACTIVE]
    ).exists()


@transaction.atomic
def subscription_undo_unsubscribe(
    *, subscriber: Subscriber, list_ids: list[int], meta: RequestMeta
) -> list[MailingList]:
    """Undo an unsubscribe made from a link in the reader's own mail: straight back to active.

    The link proves the reader holds the mailbox, so no second opt-in is needed. Pending
    subscriptions are not touched: only what was active before can come back this way.
    """
    subscriptions = list(
        Subscription.objects.select_for_update()
        .select_related("mailing_list")
        .filter(
            subscriber=subscriber,
            mailing_list_id__in=list_ids,
            state=State.UNSUBSCRIBED,
            confirmed_at__isnull=False,
        )
    )
    if not subscriptions or is_suppressed(email=subscriber.email):
        return []
    for subscription in subscriptions:
        subscription.state = State.ACTIVE
        subscription.unsubscribed_at = None
        subscription.save(update_fields=["state", "unsubscribed_at"])
    back = [subscription.mailing_list for subscription in subscriptions]
    consent_event_record(
        kind=ConsentEvent.Kind.RESUBSCRIBE, subscriber=subscriber, lists=back, meta=meta
    )
    return back
