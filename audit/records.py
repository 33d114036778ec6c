"""Writing the audit trail: who did what to which record, when and from where.

Recording must never be the reason a staff action fails, so odd input is trimmed or dropped
rather than raised on: long strings are cut to their column, an anonymous user is no actor, an
address that is not an IP is left out, and `detail` is reduced to plain JSON (PostgreSQL's jsonb
refuses NUL characters and NaN, so they go too). Database errors still raise: an action that
cannot be recorded should not pass silently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, User
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.http import HttpRequest
from django.utils.functional import Promise

from audit.models import (
    ACTION_LENGTH,
    ACTOR_NAME_LENGTH,
    TARGET_ID_LENGTH,
    TARGET_REPR_LENGTH,
    TARGET_TYPE_LENGTH,
    USER_AGENT_LENGTH,
    VIA_LENGTH,
    AuditEntry,
)
from operations.client_address import client_ip

# `detail` says what changed (field names, a send time, a count), never a copy of the data.
MAX_DETAIL_CHARS = 10_000
MAX_DETAIL_DEPTH = 6
MAX_DETAIL_STRING = 1_000


def audit_record(
    *,
    action: str,
    request: HttpRequest | None = None,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    target: models.Model | None = None,
    detail: dict[str, object] | None = None,
    via: str = "admin",
) -> AuditEntry:
    """Append one entry to the audit trail and return it; never raises because of odd input.

    `actor` defaults to `request.user`; the IP and user agent come from the request. For the
    API, pass the token's user as `actor` (the session's user is anonymous there).
    """
    entry = _entry_build(
        action=action, request=request, actor=actor, target=target, detail=detail, via=via
    )
    entry.save(force_insert=True)
    return entry


def audit_record_each(
    *,
    action: str,
    targets: Iterable[models.Model],
    request: HttpRequest | None = None,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    detail: dict[str, object] | None = None,
    via: str = "admin",
) -> list[AuditEntry]:
    """One entry per target for an action on many records at once (a bulk action), in one
    INSERT per 500 entries rather than one per record."""
    entries = [
        _entry_build(
            action=action, request=request, actor=actor, target=target, detail=detail, via=via
        )
        for target in targets
    ]
    return AuditEntry.objects.bulk_create(entries, batch_size=500)


def audit_target_redact(*, target_type: str, target_id: str, target_repr: str) -> int:
    """Replace how every entry names one record, for erasure: the entries stay (who did what,
    when), the person's address does not. Returns the number of entries rewritten."""
    return AuditEntry.objects.filter(
        target_type=_clip(target_type, TARGET_TYPE_LENGTH),
        target_id=_clip(target_id, TARGET_ID_LENGTH),
    ).update(target_repr=_clip(target_repr, TARGET_REPR_LENGTH))


# --- Building an entry from whatever the caller had ----------------------------------------------


def _entry_build(
    *,
    action: str,
    request: HttpRequest | None,
    actor: AbstractBaseUser | AnonymousUser | None,
    target: models.Model | None,
    detail: dict[str, object] | None,
    via: str,
) -> AuditEntry:
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    user, actor_name = _actor_split(actor)
    target_type, target_id, target_repr = _target_split(target)
    meta = getattr(request, "META", None) if request is not None else None
    meta = meta if isinstance(meta, dict) else {}
    return AuditEntry(
        actor=user,
        actor_name=actor_name,
        action=_clip(action, ACTION_LENGTH),
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr,
        detail=_detail_plain(detail),
        ip=client_ip(request) if request is not None else None,
        user_agent=_clip(meta.get("HTTP_USER_AGENT", ""), USER_AGENT_LENGTH),
        via=_clip(via, VIA_LENGTH) or AuditEntry.Via.ADMIN,
    )


def _actor_split(actor: object) -> tuple[User | None, str]:
    """The user to link (a saved user of the user model) and the name to keep in any case."""
    if not isinstance(actor, AbstractBaseUser):
        return None, ""  # anonymous, or something that is not a user at all
    try:
        name = _clip(actor.get_username(), ACTOR_NAME_LENGTH)
    except Exception:  # a custom user model's odd username field
        name = ""
    # Only a saved user of the configured user model can be linked; the name is kept anyway.
    if isinstance(actor, get_user_model()) and actor.pk is not None:
        return actor, name
    return None, name


def _target_split(target: object) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if not isinstance(target, models.Model):
        return "", "", _clip(_text_of(target), TARGET_REPR_LENGTH)
    model_name = target._meta.model_name or type(target).__name__.lower()
    pk = target.pk
    target_id = "" if pk is None else _clip(pk, TARGET_ID_LENGTH)
    shown = _text_of(target) or f"{model_name} {target_id}".strip()
    return (
        _clip(model_name, TARGET_TYPE_LENGTH),
        target_id,
        _clip(shown, TARGET_REPR_LENGTH),
    )


def _text_of(value: object) -> str:
    # A model's __str__ may follow a relation that is gone, or simply be broken.
    try:
        return str(value)
    except Exception:  # a broken __str__ must not stop the action
        return ""


def _clip(value: object, limit: int) -> str:
    text = value if isinstance(value, str) else _text_of(value)
    # NUL is refused by PostgreSQL in text columns; other control characters only confuse.
    text = "".join(ch for ch in text if ch >= " " or ch in "\t")
    return text.strip()[:limit]


def _detail_plain(detail: object) -> dict[str, object]:
    if detail is None:
        return {}
    plain = _plain(detail, depth=0)
    if not isinstance(plain, dict):
        plain = {"value": plain}
    text = json.dumps(plain, ensure_ascii=False)
    if len(text) > MAX_DETAIL_CHARS:
        return {"truncated": text[:MAX_DETAIL_CHARS]}
    return plain


def _plain(value: object, *, depth: int) -> object:
    """`value` as JSON that every database takes: str keys, finite numbers, no NUL."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value.replace("\x00", "")[:MAX_DETAIL_STRING]
    if depth >= MAX_DETAIL_DEPTH:
        return _clip(value, MAX_DETAIL_STRING)
    if isinstance(value, dict):
        return {_clip(key, 100): _plain(item, depth=depth + 1) for key, item in list(value.items())}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=_text_of) if isinstance(value, set | frozenset) else value
        return [_plain(item, depth=depth + 1) for item in items]
    if isinstance(value, datetime | date | time | timedelta | Decimal | UUID | Promise):
        try:
            return _plain(DjangoJSONEncoder().default(value), depth=depth + 1)
        except ValueError:  # a time of day with a timezone has no JSON form
            return _clip(value, MAX_DETAIL_STRING)
    if isinstance(value, models.Model):
        return _clip(value, TARGET_REPR_LENGTH)
    return _clip(value, MAX_DETAIL_STRING)
