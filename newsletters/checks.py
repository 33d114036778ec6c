"""Pre-send checks: what must be true of a digest before it may be scheduled.

Run on the rendered message with sample recipient values, so they judge what readers would get:
every link absolute http(s), every image described, the HTML under Gmail's clipping size, the
unsubscribe link where readers and mailbox providers look for it. A warning (`is_warning`) is
shown but does not stop scheduling: DKIM, say, may be done by the mail server instead of here.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext, ngettext

from newsletters import rendering
from newsletters.models import Digest
from operations.dkim.selection import address_domain, signer_for

# Gmail clips messages whose HTML passes ~102 KB and hides the rest, unsubscribe link included.
MAX_HTML_BYTES = 100 * 1024
SAMPLE_URL = "https://news.example.com/u/sample-token-1234567890abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str
    is_warning: bool = False  # when not ok: shown, but the digest may still be scheduled


class _LinksAndImages(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href") is not None:
            self.hrefs.append(str(values["href"]).strip())
        elif tag == "img":
            self.images.append(values)


def _is_absolute_link(href: str) -> bool:
    """An http(s) link with a host, or a mailto: (the digest's "Forward it" opens a new mail)."""
    parts = urlsplit(href)
    scheme = parts.scheme.lower()
    return scheme == "mailto" or (scheme in {"http", "https"} and bool(parts.netloc))


def _sample(html: str) -> str:
    # The size and links readers get: slots replaced by values as long as real ones.
    for slot in (rendering.SLOT_UNSUBSCRIBE_URL, rendering.SLOT_PREFERENCES_URL):
        html = html.replace(slot, SAMPLE_URL)
    return html.replace(rendering.SLOT_GREETING_HTML, "Hello Alexandra Montgomery-Smith,")


def _dkim_check(digest: Digest) -> Check:
    # Gmail and Yahoo require bulk senders to sign with a key aligned with the From domain
    # (DMARC); without one, mail is likelier to be filtered, but it can still be delivered.
    domain = address_domain(digest.mailing_list.from_email or str(settings.DEFAULT_FROM_EMAIL))
    signer = signer_for(domain) if domain else None
    if signer is not None:
        return Check(
            "dkim", True, gettext("Signed with DKIM for %(domain)s.") % {"domain": signer.domain}
        )
    return Check(
        "dkim",
        False,
        # Translators: %(domain)s is a domain name (news.example.com) or "the From address".
        gettext(
            "No DKIM key aligned with %(domain)s: mail goes out unsigned unless your mail "
            "server signs it (OpenDKIM). Add a signing key in Operations."
        )
        % {"domain": domain or gettext("the From address")},
        is_warning=True,
    )


def digest_checks(
    *, digest: Digest, rendered: rendering.RenderedDigest | None = None
) -> list[Check]:
    """Every check with its result; a digest may be scheduled when all but warnings are ok.

    The messages are in the active language: the editor's on the send desk, English in a task.
    """
    rendered = rendered or rendering.digest_render(digest=digest)
    story_count = digest.items.count()
    parser = _LinksAndImages()
    sample = _sample(rendered.html)
    parser.feed(sample)
    bad_links = [h for h in parser.hrefs if not _is_absolute_link(h)]
    missing_alt = [
        str(image.get("src") or gettext("(no src)"))
        for image in parser.images
        if not (image.get("alt") or "").strip()
    ]
    size = len(sample.encode("utf-8"))
    has_unsubscribe = (
        rendering.SLOT_UNSUBSCRIBE_URL in rendered.html
        and rendering.SLOT_UNSUBSCRIBE_URL in rendered.text
    )
    return [
        Check(
            "subject",
            bool(digest.subject.strip()),
            gettext("Subject present.") if digest.subject.strip() else gettext("Write a subject."),
        ),
        Check(
            "stories",
            story_count > 0,
            ngettext("%(count)d story.", "%(count)d stories.", story_count) % {"count": story_count}
            if story_count
            else gettext("Add at least one story."),
        ),
        Check(
            "links",
            not bad_links,
            gettext("Every link is an absolute http(s) address.")
            if not bad_links
            else gettext("Fix these links (they must start with http:// or https://): %(links)s")
            % {"links": ", ".join(bad_links[:5])},
        ),
        Check(
            "image_alt",
            not missing_alt,
            gettext("Every image has alt text.")
            if not missing_alt
            else gettext("Give these images alt text (edit the story): %(images)s")
            % {"images": ", ".join(missing_alt[:5])},
        ),
        Check(
            "size",
            size < MAX_HTML_BYTES,
            gettext("HTML is %(size).0f KB (limit 100 KB).") % {"size": size / 1024}
            if size < MAX_HTML_BYTES
            else gettext(
                "HTML is %(size).0f KB; Gmail clips above ~100 KB and hides the unsubscribe "
                "link. Remove stories or shorten summaries."
            )
            % {"size": size / 1024},
        ),
        Check(
            "unsubscribe",
            has_unsubscribe,
            gettext("Unsubscribe link present.")
            if has_unsubscribe
            else gettext("The template lost its unsubscribe link."),
        ),
        _dkim_check(digest),
    ]


def digest_problems(*, digest: Digest) -> list[str]:
    """What to fix before `digest` may be scheduled; empty when it is ready."""
    return [
        check.message
        for check in digest_checks(digest=digest)
        if not check.ok and not check.is_warning
    ]
