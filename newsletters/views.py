from __future__ import annotations

import logging

from django.contrib.syndication.views import Feed
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from newsletters import rendering
from newsletters.archive import archive_digests
from newsletters.metrics import metrics_exposition
from newsletters.models import Digest
from operations.metrics import metrics_refusal
from operations.site import site_name

logger = logging.getLogger(__name__)


@require_GET
def archive_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(archive_digests(), 30).get_page(request.GET.get("page"))
    return render(request, "newsletters/archive_list.html", {"page": page})


@require_GET
def archive_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The web version: the frozen HTML of the sent digest, recipient parts removed."""
    digest = get_object_or_404(archive_digests(), pk=pk)
    language = digest.mailing_list.language
    response = HttpResponse(
        rendering.archive_html(html_with_slots=digest.rendered_html, language=language)
    )
    # The page is in its list's language whatever the reader's (LocaleMiddleware would say theirs).
    response["Content-Language"] = language
    return response


class ArchiveFeed(Feed[Digest, None]):
    def title(self) -> str:
        return gettext("%(site)s newsletters") % {"site": site_name()}

    def description(self) -> str:
        return gettext("Past issues of our newsletters.")

    def link(self) -> str:
        return reverse("newsletters:archive_list")

    def items(self) -> list[Digest]:
        return list(archive_digests()[:30])

    def item_title(self, item: Digest) -> str:
        return item.rendered_subject or item.subject

    def item_description(self, item: Digest) -> str:
        return (
            f"{item.mailing_list.name}: {item.preheader}"
            if item.preheader
            else item.mailing_list.name
        )

    def item_link(self, item: Digest) -> str:
        return reverse("newsletters:archive_detail", args=[item.pk])

    def item_pubdate(self, item: Digest):  # type: ignore[no-untyped-def]
        return item.sent_at


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics for the whole cluster; 404 unless METRICS_TOKEN is set, 401 without it."""
    refusal = metrics_refusal(request)
    if refusal is not None:
        return refusal
    try:
        body, content_type = metrics_exposition(accept=request.headers.get("Accept", ""))
    except DatabaseError as exc:
        # Prometheus records the failed scrape (`up` is 0); a 503 says why without a traceback.
        logger.warning("Metrics scrape without the database: %s", exc)
        return HttpResponse(
            "The database did not answer.\n",  # English: read by Prometheus and operators
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(body, content_type=content_type)
