"""A second factor at staff login (django-otp, TOTP): who must have one, and the gate to admin.

STAFF_2FA says who: "off" nobody; "senders" staff who may send digests (SEND_PERMISSIONS, which
superusers hold too), because their stolen password would mail every reader; "all" every staff
user. Such a user signs in with Django's own admin login as before, then reaches no admin page
until they enter a code from their authenticator app (the verify page) or, with none set up yet,
set one up (the enrol page). The verified device is kept in the session by django-otp's
OTPMiddleware, so the step is once per login.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import get_script_prefix, get_urlconf, reverse
from django_otp import user_has_device  # type: ignore[import-untyped]

# What "may send" means: send now or schedule (a Publisher's), and resend to the undelivered.
SEND_PERMISSIONS = ("newsletters.schedule_digest", "newsletters.control_digest")


def two_factor_required(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    """True when STAFF_2FA asks this user for a second factor before any admin page."""
    policy = settings.STAFF_2FA
    if policy == "off" or not isinstance(user, AbstractUser) or not user.is_staff:
        return False
    if policy == "all":
        return True
    return any(user.has_perm(permission) for permission in SEND_PERMISSIONS)


def is_verified(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether this session's login was completed with a code (set by OTPMiddleware)."""
    check = getattr(user, "is_verified", None)
    return bool(check()) if callable(check) else False


def next_step_url(*, user: AbstractBaseUser, next_path: str) -> str:
    """The verify page for a user with an authenticator app, else the page that sets one up."""
    name = "staff_2fa_verify" if user_has_device(user) else "staff_2fa_enrol"
    return f"{reverse(name)}?{urlencode({'next': next_path})}"


class StaffTwoFactorMiddleware:
    """Sends staff who need a second factor and have not given one this session to give it.

    Only admin pages are guarded (the product's staff pages all live under /admin/; readers'
    pages and the bearer-token API never look at a staff session). The login and logout pages
    stay open, so a person can always leave or change account.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._is_guarded(request.path) and self._must_verify(request):
            user = request.user
            assert isinstance(user, AbstractBaseUser)
            # A POST cannot be replayed after the code; its page can be shown again.
            next_path = request.get_full_path() if request.method == "GET" else request.path
            return redirect(next_step_url(user=user, next_path=next_path))
        return self.get_response(request)

    @staticmethod
    def _is_guarded(path: str) -> bool:
        admin_root, open_paths = _admin_paths(
            get_script_prefix(), get_urlconf(settings.ROOT_URLCONF)
        )
        return path.startswith(admin_root) and path not in open_paths

    @staticmethod
    def _must_verify(request: HttpRequest) -> bool:
        user = request.user
        return two_factor_required(user=user) and not is_verified(user)


@functools.lru_cache(maxsize=8)
def _admin_paths(script_prefix: str, urlconf: str) -> tuple[str, frozenset[str]]:
    """The admin's root and the pages under it that stay open (login, logout).

    Every request asks, a reader's too: reversed once per script prefix and URLconf, since three
    reverse() calls a request cost more than the rest of this middleware stack's own work.
    """
    open_paths = frozenset(
        reverse(name, urlconf=urlconf) for name in ("admin:login", "admin:logout")
    )
    return reverse("admin:index", urlconf=urlconf), open_paths
