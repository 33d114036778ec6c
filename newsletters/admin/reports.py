"""A digest's report page and its ledger as CSV.

Plain functions taking the digest: DigestAdmin.get_urls wires them (as
`admin:newsletters_digest_report` and `admin:newsletters_digest_report_csv`) after checking that
the user may view digests. What they check themselves is the personal data: readers' addresses
on the page need `mailinglist.view_subscriber`; the CSV names every reader the digest went to,
which is the whole list's audience, so it needs what exporting subscribers needs.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext

from mailinglist.csvfiles import csv_cell_guard
from newsletters.delivery import ledger_export, reports
from newsletters.models import Digest

READERS_PERMISSION = "mailinglist.view_subscriber"
EXPORT_PERMISSION = "mailinglist.export_subscribers"


def _csv_url(digest: Digest) -> str:
    try:
        return reverse("admin:newsletters_digest_report_csv", args=[digest.pk])
    except NoReverseMatch:  # not wired into DigestAdmin (a test calling the view directly)
        return ""


def digest_report_view(request: HttpRequest, digest: Digest) -> HttpResponse:
    """Counts and rates, failures by reason, possible duplicates, the readers it lost."""
    report = reports.digest_report(digest=digest)
    context = {
        **admin.site.each_context(request),
        "title": gettext("Report: %(digest)s") % {"digest": digest},
        "subtitle": None,
        "opts": Digest._meta,
        "original": digest,
        "report": report,
        "figures": report.figures,
        "shows_readers": request.user.has_perm(READERS_PERMISSION),
        "can_export": request.user.has_perm(EXPORT_PERMISSION) and not report.figures.is_retained,
        "csv_url": _csv_url(digest),
        "readers_shown": reports.READERS_SHOWN,
    }
    return TemplateResponse(request, "admin/newsletters/digest/report.html", context)


class _Line:
    """What csv.writer writes, handed back a row at a time."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(digest_id: int) -> Iterator[str]:
    writer = csv.writer(_Line())
    rows = ledger_export.digest_ledger_rows(digest_id=digest_id)
    # The byte-order mark makes spreadsheets read the file as UTF-8.
    yield "\ufeff" + str(writer.writerow(next(rows)))
    for row in rows:
        # Addresses and servers' replies are outside text: nothing may run as a formula.
        yield str(writer.writerow([csv_cell_guard(cell) for cell in row]))


def digest_ledger_csv_view(request: HttpRequest, digest: Digest) -> StreamingHttpResponse:
    """The digest's ledger, one row per reader, streamed (a million rows never sit in memory)."""
    if not request.user.has_perm(EXPORT_PERMISSION):
        raise PermissionDenied
    response = StreamingHttpResponse(_csv_lines(digest.pk), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="digest-{digest.pk}-ledger.csv"'
    return response
