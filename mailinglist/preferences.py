"""The preference centre and a reader's rights over their data: lists, name, pause, export, erase.

Every change appends a ConsentEvent, as everywhere in the audience (see subscriptions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from audit.records import audit_target_redact
from mailinglist import protection, tokens
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
from mailinglist.subscriptions import RequestMeta, State, consent_event_record
from mailinglist.suppressions import is_suppressed, signup_blocked

MAX_PAUSE_WEEKS = 12


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
        consent_event_record(
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
    consent_event_record(
        kind=ConsentEvent.Kind.PAUSE, subscriber=subscriber, meta=meta, detail={"weeks": weeks}
    )


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
    # The audit trail keeps who did what to this reader and when, but not their address: every
    # entry about them names them by hash, as the suppression list does. Whoever erased them
    # (the reader in the preference centre, or staff) the same.
    audit_target_redact(
        target_type="subscriber",
        target_id=str(subscriber.pk),
        target_repr=f"(erased) {hashed[:12]}…",
    )
    # Nothing about them stays, not even "had a confirmation today": a new signup starts afresh.
    protection.confirmation_slot_release(email=subscriber.email)
    subscriber.delete()  # cascades to subscriptions and consent events
    consent_event_record(
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


# --- Changing the address ------------------------------------------------------------------------


def email_ref(email: str) -> str:
    """A short fingerprint of an address, carried in an address-change link (see tokens.py)."""
    return email_hash(email)[:16]


def address_change_request(*, subscriber: Subscriber, new_email: str) -> bool:
    """Mail a confirmation link to `new_email`; the address changes only when it is pressed.

    Answers nothing about `new_email` (whose it is, whether it is suppressed): the page says
    "we've sent a link" whatever happens. Nothing is mailed to a bounced, complained or blocked
    address, and at most one link per new address a day, so a preference link cannot be used to
    flood someone else's inbox. True if a mail was enqueued (for tests and logs only).
    """
    from mailinglist.tasks import send_address_change

    if signup_blocked(email=new_email):
        return False
    key = f"signup:address-change-sent:{email_hash(new_email)}"
    if not cache.add(key, 1, timeout=protection.CONFIRMATION_WINDOW_SECONDS):
        return False
    subscriber_id = subscriber.pk
    transaction.on_commit(lambda: send_address_change.delay(subscriber_id, new_email))
    return True


@dataclass(frozen=True)
class AddressChangeOutcome:
    is_changed: bool
    # Why not, in words for the reader; says no more than that the address cannot be used.
    refusal: StrOrPromise = ""
    old_email: str = ""


ADDRESS_TAKEN_MESSAGE = _(
    "We can't move your newsletters to this address: it is already on our lists. Use the "
    "preference link in the emails it receives, or ask us to remove it first."
)
ADDRESS_BLOCKED_MESSAGE = _(
    "We can't send to this address, so we can't move your newsletters to it."
)
ADDRESS_LINK_STALE_MESSAGE = _(
    "Your address has changed since this link was sent. Ask for a new one from your preferences."
)


@transaction.atomic
def address_change_confirm(
    *, subscriber: Subscriber, data: tokens.AddressChangeData, meta: RequestMeta
) -> AddressChangeOutcome:
    """Move the reader to the address the link was sent to, or say why not; notifies the old one.

    Refused if the new address is suppressed (bounced, complained, blocked) or belongs to another
    subscriber, or if the address changed since the link was made. Pressing the link again once
    the change is done changes nothing and reports success.
    """
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    if subscriber.email.lower() == data.new_email.lower():
        return AddressChangeOutcome(is_changed=True)
    if email_ref(subscriber.email) != data.old_email_ref:
        return AddressChangeOutcome(is_changed=False, refusal=ADDRESS_LINK_STALE_MESSAGE)
    if signup_blocked(email=data.new_email):
        return AddressChangeOutcome(is_changed=False, refusal=ADDRESS_BLOCKED_MESSAGE)
    taken = Subscriber.objects.filter(email__iexact=data.new_email).exclude(pk=subscriber.pk)
    if taken.exists():
        return AddressChangeOutcome(is_changed=False, refusal=ADDRESS_TAKEN_MESSAGE)
    old_email = subscriber.email
    subscriber.email = data.new_email
    try:
        with transaction.atomic():
            subscriber.save(update_fields=["email"])
    except IntegrityError:
        # Someone signed up with this address between the check and the write.
        return AddressChangeOutcome(is_changed=False, refusal=ADDRESS_TAKEN_MESSAGE)
    # The reader just proved the new mailbox: an erasure of it (its owner's own) no longer holds.
    Suppression.objects.filter(
        email_hash=email_hash(data.new_email), reason=Suppression.Reason.ERASED
    ).delete()
    consent_event_record(
        kind=ConsentEvent.Kind.PREFERENCES,
        subscriber=subscriber,
        meta=meta,
        # The old address by its hash only: the record must not keep an address they left.
        detail={"address_changed": True, "old_email_hash": email_hash(old_email)},
    )
    from mailinglist.tasks import send_address_changed_notice

    subscriber_id = subscriber.pk
    transaction.on_commit(lambda: send_address_changed_notice.delay(subscriber_id, old_email))
    return AddressChangeOutcome(is_changed=True, old_email=old_email)
