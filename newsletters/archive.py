"""The public archive: sent digests of public lists, exactly as they went out (minus links that
belong to one recipient)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import QuerySet

from newsletters import rendering
from newsletters.models import Digest

_BODY_TAG = re.compile(r"<body\b[^>]*>", re.I)


def archive_digests() -> QuerySet[Digest]:
    """Digests that went out on public lists and have a frozen render, newest first."""
    return (
        Digest.objects.filter(
            state=Digest.State.SENT, mailing_list__is_public=True, rendered_at__isnull=False
        )
        .select_related("mailing_list")
        .order_by("-sent_at", "-id")
    )


@dataclass(frozen=True)
class WebVersion:
    """A digest's web version: the HTML readers got, and where it sits among its list's issues."""

    digest: Digest
    html: str
    is_public: bool  # False: a staff preview of an issue not sent yet
    newer: Digest | None
    older: Digest | None


def web_version_get(*, digest_id: int, is_staff: bool) -> WebVersion | None:
    """The web version of a sent public issue, or for staff of any issue (rendered now if it
    has not gone out); None where the reader may not see it."""
    digest = Digest.objects.select_related("mailing_list").filter(pk=digest_id).first()
    if digest is None:
        return None
    is_public = archive_digests().filter(pk=digest.pk).exists()
    if not is_public and not is_staff:
        return None
    language = digest.mailing_list.language
    if is_public:
        frozen = digest.rendered_html
    else:
        frozen = digest.rendered_html or rendering.digest_render(digest=digest).html
    issues = archive_digests().filter(mailing_list_id=digest.mailing_list_id)
    newer = older = None
    if is_public and digest.sent_at is not None:
        newer = issues.filter(sent_at__gt=digest.sent_at).order_by("sent_at", "id").first()
        older = issues.filter(sent_at__lt=digest.sent_at).first()
    return WebVersion(
        digest=digest,
        html=rendering.archive_html(html_with_slots=frozen, language=language),
        is_public=is_public,
        newer=newer,
        older=older,
    )


def web_version_with_bar(markup: str, *, bar: str) -> str:
    """The issue's HTML with `bar` first inside its <body>."""
    match = _BODY_TAG.search(markup)
    if match is None:
        return bar + markup
    return markup[: match.end()] + bar + markup[match.end() :]
