"""Staff login throttling (django-axes): whose attempts count together, and the lockout page.

After AXES_FAILURE_LIMIT wrong passwords for one username from one address, that username is
locked out from that address for AXES_COOLOFF_TIME, even with the right password. The pair, not
the address alone, so a newsroom behind one NAT is not locked out by one person's typos; not the
username alone, so a stranger cannot lock an editor out from everywhere.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from axes.models import AccessAttempt  # type: ignore[import-untyped]
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext

from operations.client_address import client_ip


def login_client_ip(request: HttpRequest) -> str | None:
    """The address axes counts attempts from: the reader's, through our trusted proxies only.

    Behind a load balancer REMOTE_ADDR is the balancer's, and every staff member would share one
    lockout; a forged X-Forwarded-For must not give an attacker a fresh address per attempt.
    """
    return client_ip(request)


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The page a locked-out login gets: what happened, until when, and how to get back in."""
    until = _locked_until(request, username=str((credentials or {}).get("username") or ""))
    seconds_left = max(0.0, (until - timezone.now()).total_seconds())
    context = {
        **admin.site.each_context(request),
        "title": gettext("Too many failed logins"),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        "minutes_left": max(1, math.ceil(seconds_left / 60)),
        "until": until,
    }
    # 429 Too Many Requests, as axes answers by default.
    response = TemplateResponse(request, "admin/login_locked_out.html", context, status=429)
    response["Retry-After"] = str(math.ceil(seconds_left))
    response.render()
    return response


def _locked_until(request: HttpRequest, *, username: str) -> datetime:
    # The cool-off runs from the failure that locked the pair out: attempts made while locked
    # out are not counted (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off), so it ends
    # when the page says, however often the person tries meanwhile.
    last: datetime | None = (
        AccessAttempt.objects.filter(
            username=username, ip_address=getattr(request, "axes_ip_address", None)
        )
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    cool_off = settings.AXES_COOLOFF_TIME
    return (last or timezone.now()) + cool_off
