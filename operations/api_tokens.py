"""Staff API tokens: issue (shown once), verify in constant time, never store in clear."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from operations.models import ApiToken

# Writing last_used_at on every request would turn each API read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@transaction.atomic
def api_token_issue(*, user: User) -> str:
    """A new token for `user`, replacing any earlier one; returned once, stored only as a hash."""
    token = secrets.token_urlsafe(32)
    ApiToken.objects.update_or_create(
        user=user, defaults={"token_hash": _hash(token), "prefix": token[:8], "last_used_at": None}
    )
    return token


def api_token_user(*, token: str) -> User | None:
    """The active staff user a token belongs to, or None.

    Looked up by its SHA-256: equal hashes are found by the index, so no comparison leaks
    timing about the secret itself.
    """
    if not token or len(token) > 200:
        return None
    found = ApiToken.objects.select_related("user").filter(token_hash=_hash(token)).first()
    if found is None or not found.user.is_active or not found.user.is_staff:
        return None
    now = timezone.now()
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
    return found.user
