"""Shows a Publisher, on their next admin page, how the sends they started ended."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from newsletters.delivery.notices import notices_since

SESSION_KEY = "newsdesk_notices_seen_at"


class PublisherNoticeMiddleware:
    """Adds a message for each send that ended since the person last saw an admin page.

    Only on admin pages a person reads (HTML GETs): the progress poll asks for JSON, and a notice
    consumed by it would never be shown. The first page after logging in starts the clock, so
    nobody is greeted by every send of the past.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method == "GET"
            and request.path.startswith("/admin/")
            and "text/html" in request.headers.get("Accept", "")
            and request.user.is_authenticated
            and request.user.is_staff
        ):
            self._notify(request)
        return self.get_response(request)

    def _notify(self, request: HttpRequest) -> None:
        now = timezone.now()
        seen = request.session.get(SESSION_KEY)
        request.session[SESSION_KEY] = now.isoformat()
        if seen is None:
            return
        for notice in notices_since(user=request.user, since=datetime.fromisoformat(seen)):  # type: ignore[arg-type]
            if notice.is_problem:
                messages.warning(request, notice.text)
            else:
                messages.info(request, notice.text)
