"""`Authorization: Bearer <token>` for the staff endpoints of /api/v1/, and the role check.

A token acts with its user's permissions (their role's group, or superuser): each staff endpoint
names the permissions it needs in its `auth=`, so the check runs before the body is parsed and a
Viewer's change is refused with 403 whatever it sends. A token whose user is inactive or no longer
staff is no token at all (401).

Staff endpoints answer in English whatever the client's `Accept-Language`: a script parses their
`detail`, and the admin's own strings (pre-send checks, scheduling) are marked for translation
but may stay English, while shared ones (an address refused) are translated for readers.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils import translation
from ninja.errors import HttpError
from ninja.security import HttpBearer

from operations.api_tokens import api_token_user


def perms_require(*, user: User, perms: tuple[str, ...], doing: str) -> None:
    """403 {"detail": "Your role does not allow …"} unless `user` has every one of `perms`."""
    missing = [perm for perm in perms if not user.has_perm(perm)]
    if missing:
        raise HttpError(403, f"Your role does not allow {doing} (it needs {', '.join(missing)}).")


class StaffToken(HttpBearer):
    """A staff user's token that also carries the permissions its endpoint needs."""

    def __init__(self, *perms: str, doing: str) -> None:
        # An endpoint without a permission would let any staff token do it: not allowed.
        if not perms:
            raise ValueError("name the permission(s) this endpoint needs")
        self.perms = perms
        self.doing = doing
        super().__init__()

    def __call__(self, request: HttpRequest) -> User | None:
        # Before the token is read, so a 401 or 403 is in English too; LocaleMiddleware then
        # labels the answer `Content-Language: en`.
        translation.activate(settings.LANGUAGE_CODE)
        request.LANGUAGE_CODE = settings.LANGUAGE_CODE
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = api_token_user(token=token)
        if user is not None:
            perms_require(user=user, perms=self.perms, doing=self.doing)
        return user


def staff_token_for(*perms: str, doing: str) -> StaffToken:
    """`auth=` for a staff endpoint: a valid token (else 401) whose user has `perms` (else 403).

    `doing` completes the 403's sentence: "Your role does not allow <doing>".
    """
    return StaffToken(*perms, doing=doing)


def request_perms_require(request: HttpRequest, *perms: str, doing: str) -> None:
    """The same check inside an endpoint, for a permission that depends on what was sent."""
    user: User = request.auth  # type: ignore[attr-defined]  # set by StaffToken
    perms_require(user=user, perms=perms, doing=doing)
