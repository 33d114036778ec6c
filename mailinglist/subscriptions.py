"""What can happen to a subscription, and the record each change leaves.

Every function here keeps the same promises: a suppressed address is never made mailable, every
change of consent appends a ConsentEvent, and mail is enqueued only after the change commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from mailinglist import protection
from mailinglist.addresses import email_hash
from mailinglist.models import (
    ConsentEvent,
    ImportJob,
    MailingList,
    SignupRequest,
    Subscriber,
    Subscription,
    Suppression,
)

State = Subscription.State

# The consent wording the reader sees beside the form; its hash is recorded with each signup so
# we can show later exactly what someone agreed to.
FORM_CONSENT_TEXT = (
    "We'll email you the newsletters you pick. Every email has a link to change what you get "
    "or to unsubscribe in one click."
)
FORM_VERSION = hashlib.sha256(FORM_CONSENT_TEXT.encode()).hexdigest()[:16]
MAX_PAUSE_WEEKS = 12


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, as recorded in consent events."""

    ip: str | None = None
    user_agent: str = ""
    source_url: str = ""


def _event(
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


# --- Suppression ---------------------------------------------------------------------------------


def is_suppressed(*, email: str) -> bool:
    """Whether `email` (any case) is on the suppression list."""
    return Suppression.objects.filter(email_hash=email_hash(email)).exists()


def signup_blocked(*, email: str) -> bool:
    """Whether a signup from `email` must be ignored: it bounced, complained or staff blocked it.

    An erased address is suppressed too, but its owner may come back through a new double
    opt-in (confirming lifts the erasure's suppression); imports and staff cannot bring it back.
    """
    return (
        Suppression.objects.filter(email_hash=email_hash(email))
        .exclude(reason=Suppression.Reason.ERASED)
        .exists()
    )


def suppression_add(*, email: str, reason: str, note: str = "") -> Suppression:
    """Put `email` on the suppression list (idempotent); it will never be mailed again."""
    suppression, _ = Suppression.objects.get_or_create(
        email_hash=email_hash(email),
        defaults={
            "email": "" if reason == Suppression.Reason.ERASED else email,
            "reason": reason,
            "note": note,
        },
    )
    return suppression


# --- Signup ------------------------------------------------------------------------------------


def public_lists() -> list[MailingList]:
    return list(MailingList.objects.filter(is_public=True).order_by("name"))


def signup_request_submit(
    *,
    email: str,
    name: str,
    list_slugs: list[str],
    source: str,
    meta: RequestMeta,
    form_version: str = FORM_VERSION,
) -> SignupRequest:
    """Store a validated signup and hand it to a worker once committed.

    Costs the same whatever the state of the address — one INSERT and one enqueue — so that the
    answer (and its timing) says nothing about who is subscribed.
    """
    from mailinglist.tasks import process_signup

    request = SignupRequest.objects.create(
        email=email,
        name=name,
        list_slugs=list_slugs,
        source=source,
        ip=meta.ip,
        user_agent=meta.user_agent[:300],
        source_url=meta.source_url[:500],
        form_version=form_version,
    )
    transaction.on_commit(lambda: process_signup.delay(request.pk))
    return request


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
    """Apply one stored signup: pending subscriptions, a consent event, at most one confirmation.

    Idempotent (a re-delivered task finds the request processed). A suppressed address gets
    nothing; lists already active stay as they are; one confirmation per address per day.
    """
    request = SignupRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None or request.processed_at is not None:
        return
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
    _event(
        kind=ConsentEvent.Kind.SIGNUP,
        subscriber=subscriber,
        lists=lists,
        meta=RequestMeta(
            ip=request.ip, user_agent=request.user_agent, source_url=request.source_url
        ),
        form_version=request.form_version,
        detail={"source": request.source, "new_subscriber": created},
    )
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
    _event(kind=ConsentEvent.Kind.CONFIRM, subscriber=subscriber, lists=confirmed, meta=meta)
    welcome_ids = [m.pk for m in confirmed if m.is_welcome_enabled]
    if welcome_ids:
        from mailinglist.tasks import send_welcome

        transaction.on_commit(lambda: send_welcome.delay(subscriber.pk, welcome_ids))
    return confirmed


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
    *, subscriber: Subscriber, list_ids: list[int] | None, meta: RequestMeta, method: str
) -> list[MailingList]:
    """Unsubscribe from `list_ids` (None: from everything); returns the lists actually left.

    `method` says how (one-click, page, preferences, staff) for the consent record.
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
        _event(
            kind=ConsentEvent.Kind.UNSUBSCRIBE,
            subscriber=subscriber,
            lists=left,
            meta=meta,
            detail={"method": method},
        )
    return left


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
    _event(kind=ConsentEvent.Kind.RESUBSCRIBE, subscriber=subscriber, lists=back, meta=meta)
    return back


# --- Preference centre ---------------------------------------------------------------------------


def preference_lists(*, subscriber: Subscriber) -> list[tuple[MailingList, str | None]]:
    """Lists a reader may manage — public ones and any they are on — with their state there."""
    states = {
        s.mailing_list_id: s.state for s in Subscription.objects.filter(subscriber=subscriber)
    }
    lists = MailingList.objects.filter(Q(is_public=True) | Q(pk__in=states.keys())).order_by("name")
    return [(mailing_list, states.get(mailing_list.pk)) for mailing_list in lists]


@transaction.atomic
def preferences_update(
    *, subscriber: Subscriber, wanted_list_ids: set[int], name: str, meta: RequestMeta
) -> None:
    """Make the reader's lists exactly `wanted_list_ids` (among those they may manage), and name.

    Lists switched on here are active at once: the preference link proved the mailbox.
    """
    now = timezone.now()
    added: list[MailingList] = []
    removed: list[MailingList] = []
    suppressed = is_suppressed(email=subscriber.email)
    for mailing_list, state in preference_lists(subscriber=subscriber):
        wanted = mailing_list.pk in wanted_list_ids
        if wanted and state != State.ACTIVE and not suppressed:
            Subscription.objects.update_or_create(
                subscriber=subscriber,
                mailing_list=mailing_list,
                defaults={"state": State.ACTIVE, "confirmed_at": now, "unsubscribed_at": None},
                create_defaults={
                    "state": State.ACTIVE,
                    "confirmed_at": now,
                    "requested_at": now,
                    "source": Subscription.Source.FORM,
                },
            )
            added.append(mailing_list)
        elif not wanted and state in {State.ACTIVE, State.PENDING}:
            Subscription.objects.filter(subscriber=subscriber, mailing_list=mailing_list).update(
                state=State.UNSUBSCRIBED, unsubscribed_at=now
            )
            removed.append(mailing_list)
    changes: dict[str, Any] = {}
    if added:
        changes["added"] = sorted(m.slug for m in added)
    if removed:
        changes["removed"] = sorted(m.slug for m in removed)
    if name != subscriber.name:
        subscriber.name = name
        subscriber.save(update_fields=["name"])
        changes["name_changed"] = True
    if changes:
        _event(
            kind=ConsentEvent.Kind.PREFERENCES,
            subscriber=subscriber,
            lists=[*added, *removed],
            meta=meta,
            detail=changes,
        )


@transaction.atomic
def subscriber_pause(*, subscriber: Subscriber, weeks: int, meta: RequestMeta) -> None:
    """No digests for `weeks` weeks (0 resumes now); subscriptions themselves are unchanged."""
    weeks = max(0, min(MAX_PAUSE_WEEKS, weeks))
    subscriber.paused_until = timezone.now() + timedelta(weeks=weeks) if weeks else None
    subscriber.save(update_fields=["paused_until"])
    _event(kind=ConsentEvent.Kind.PAUSE, subscriber=subscriber, meta=meta, detail={"weeks": weeks})


def subscriber_export(*, subscriber: Subscriber) -> dict[str, Any]:
    """Everything we hold about a subscriber, as the reader may download it (GDPR Art. 15/20)."""
    subscriptions = subscriber.subscriptions.select_related("mailing_list").order_by("created_at")
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "created_at": subscriber.created_at.isoformat(),
        "paused_until": subscriber.paused_until.isoformat() if subscriber.paused_until else None,
        "subscriptions": [
            {
                "list": s.mailing_list.slug,
                "list_name": s.mailing_list.name,
                "state": s.state,
                "source": s.source,
                "requested_at": s.requested_at.isoformat() if s.requested_at else None,
                "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
                "unsubscribed_at": s.unsubscribed_at.isoformat() if s.unsubscribed_at else None,
            }
            for s in subscriptions
        ],
        "consent_events": [
            {
                "kind": e.kind,
                "at": e.at.isoformat(),
                "lists": e.lists,
                "ip": e.ip,
                "user_agent": e.user_agent,
                "source_url": e.source_url,
                "form_version": e.form_version,
                "detail": e.detail,
            }
            for e in subscriber.events.order_by("at", "id")
        ],
    }


@transaction.atomic
def subscriber_erase(*, subscriber: Subscriber, meta: RequestMeta, by: str) -> str:
    """Remove every piece of personal data about `subscriber`; keep only the address's hash.

    The hash goes on the suppression list, so no import, staff action or stale subscription can
    bring the address back; only its owner can, through a new double opt-in. Returns the hash,
    the only trace left.
    """
    hashed = email_hash(subscriber.email)
    Suppression.objects.update_or_create(
        email_hash=hashed,
        defaults={"email": "", "reason": Suppression.Reason.ERASED},
    )
    SignupRequest.objects.filter(email__iexact=subscriber.email).delete()
    _import_reports_scrub(email=subscriber.email)
    # The admin's own history names the address (in "Changed name" entries, say).
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Subscriber), object_id=str(subscriber.pk)
    ).delete()
    # Nothing about them stays, not even "had a confirmation today": a new signup starts afresh.
    protection.confirmation_slot_release(email=subscriber.email)
    subscriber.delete()  # cascades to subscriptions and consent events
    _event(
        kind=ConsentEvent.Kind.ERASE,
        subscriber=None,
        meta=RequestMeta(),  # the requester's IP is personal data too
        hashed_email=hashed,
        detail={"by": by},
    )
    return hashed


def _import_reports_scrub(*, email: str) -> None:
    """Drop `email` from import jobs' per-line reports and from files not yet imported."""
    lowered = email.lower()
    for job in ImportJob.objects.exclude(errors=[]).only("pk", "errors"):
        kept = [e for e in job.errors if str(e.get("email", "")).strip().lower() != lowered]
        if len(kept) != len(job.errors):
            ImportJob.objects.filter(pk=job.pk).update(errors=kept)
    # A file still waiting to be imported would bring the address straight back.
    ImportJob.objects.exclude(content="").filter(content__icontains=email).update(content="")


# --- Staff --------------------------------------------------------------------------------------


class SubscriptionRefused(Exception):
    """A staff request that must not go through; the message says why, for the API's answer."""


@transaction.atomic
def subscriber_add_by_staff(
    *, email: str, lists: list[MailingList], name: str, consent: str, by: str
) -> Subscriber:
    """Add one address that staff say agreed already: active at once, their note recorded.

    Refused for a suppressed address (bounced, complained, erased) and for a list the person
    left: staff can never override someone's "no"; only the reader can resubscribe.
    """
    if is_suppressed(email=email):
        raise SubscriptionRefused("This address is suppressed and cannot be added.")
    subscriber, _ = subscriber_get_or_create(email=email, name=name)
    left = Subscription.objects.filter(
        subscriber=subscriber, mailing_list__in=lists, state=State.UNSUBSCRIBED
    ).values_list("mailing_list__slug", flat=True)
    if left:
        raise SubscriptionRefused(
            f"This address unsubscribed from {', '.join(sorted(left))}; only they can resubscribe."
        )
    if name and not subscriber.name:
        subscriber.name = name
        subscriber.save(update_fields=["name"])
    now = timezone.now()
    for mailing_list in lists:
        Subscription.objects.update_or_create(
            subscriber=subscriber,
            mailing_list=mailing_list,
            defaults={"state": State.ACTIVE, "confirmed_at": now},
            create_defaults={
                "state": State.ACTIVE,
                "confirmed_at": now,
                "requested_at": now,
                "source": Subscription.Source.STAFF,
            },
        )
    _event(
        kind=ConsentEvent.Kind.IMPORT,
        subscriber=subscriber,
        lists=lists,
        detail={"consent": consent, "by": by, "via": "api"},
    )
    return subscriber


def subscriber_summary(*, subscriber: Subscriber) -> dict[str, Any]:
    """The subscriber as the staff API shows it: overall state and the state on each list."""
    states = dict(
        subscriber.subscriptions.values_list("mailing_list__slug", "state").order_by(
            "mailing_list__slug"
        )
    )
    if is_suppressed(email=subscriber.email):
        overall = "suppressed"
    elif State.ACTIVE in states.values():
        overall = State.ACTIVE.value
    elif State.PENDING in states.values():
        overall = State.PENDING.value
    else:
        overall = State.UNSUBSCRIBED.value
    return {"email": subscriber.email, "state": overall, "lists": states}
