from __future__ import annotations

import logging

from django.contrib.syndication.views import Feed
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from newsletters.archive import archive_digests, web_version_get, web_version_with_bar
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
    """The web version: the HTML the issue went out with, recipient parts removed, under a bar
    with the way to its neighbours and to subscribe. Staff also see issues not sent yet."""
    is_staff = request.user.is_staff and request.user.has_perm("newsletters.view_digest")
    version = web_version_get(digest_id=pk, is_staff=is_staff)
    if version is None:
        raise Http404("No such issue.")
    language = version.digest.mailing_list.language
    with translation.override(language):
        bar = render_to_string("newsletters/_web_version_bar.html", {"version": version})
    response = HttpResponse(web_version_with_bar(version.html, bar=bar))
    # The page is in its list's language whatever the reader's (LocaleMiddleware would say theirs).
    response["Content-Language"] = language
    if not version.is_public:
        patch_cache_control(response, private=True, no_store=True)
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
