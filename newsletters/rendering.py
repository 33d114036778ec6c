"""A digest rendered once: subject, HTML (CSS inlined) and text, with slots for each recipient.

Rendering templates per recipient costs milliseconds; a digest goes to hundreds of thousands. So
the message is rendered once, with a slot — a fixed ASCII marker — wherever something differs per
recipient (the address, the Message-ID, the unsubscribe and preference links, the greeting), and
mime.py fills the slots by joining byte segments. For that to be safe, slots must reach the
serialized message untouched: they are plain ASCII without spaces or "=", and no line of either
part exceeds MAX_LINE, so Django keeps the parts 8bit (never quoted-printable, which could break a
slot across lines).
"""

from __future__ import annotations

import html
import re
import textwrap
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import css_inline
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from mailinglist.branding import Brand, brand_of, link_tagged
from mailinglist.links import DIGEST_PARAM, in_language
from mailinglist.zones import zone_or_utc
from newsletters.markdown import markdown_html
from newsletters.models import Digest, DigestStory, Story
from newsletters.stories import plain_text

SLOT_TO = "recipient@slot.newsdesk.invalid"
SLOT_MESSAGE_ID = "newsdesk-slot-message-id"
SLOT_UNSUBSCRIBE_URL = "https://slot.newsdesk.invalid/unsubscribe"
SLOT_PREFERENCES_URL = "https://slot.newsdesk.invalid/preferences"
# The greeting carries the reader's name: escaped in the HTML part, as typed in the text part.
SLOT_GREETING_HTML = "NEWSDESK-SLOT-GREETING-HTML"
SLOT_GREETING_TEXT = "NEWSDESK-SLOT-GREETING-TEXT"
# List-Unsubscribe's mailto: URI (return_path.unsubscribe_mailto); only with BOUNCE_ADDRESS set.
SLOT_UNSUBSCRIBE_MAILTO = "mailto:unsubscribe@slot.newsdesk.invalid"
SLOTS = (
    SLOT_TO,
    SLOT_MESSAGE_ID,
    SLOT_UNSUBSCRIBE_URL,
    SLOT_PREFERENCES_URL,
    SLOT_GREETING_HTML,
    SLOT_GREETING_TEXT,
    SLOT_UNSUBSCRIBE_MAILTO,
)

# Well under RFC 5322's 998: Django switches a part to quoted-printable past that.
MAX_LINE = 900
# The width story images are drawn at in the digest (its content column; smaller screens scale).
IMAGE_WIDTH = 544
TEXT_WIDTH = 76
MAX_TEXT = 20_000  # characters of one summary or intro in the text part
RECIPIENT_BLOCK = re.compile(r"<!--newsdesk:recipient-->.*?<!--/newsdesk:recipient-->", re.S)

_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass(frozen=True)
class RenderedDigest:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class Greeting:
    """ "Hello Ada," in a list's language: translated once per digest, filled in per reader."""

    before_name: str
    after_name: str
    anonymous: str

    def for_name(self, name: str) -> str:
        return f"{self.before_name}{name}{self.after_name}" if name else self.anonymous


def greeting_make(*, language: str) -> Greeting:
    with translation.override(language):
        named = gettext("Hello %(name)s,")
        anonymous = gettext("Hello,")
    before, _, after = named.partition("%(name)s")
    return Greeting(before_name=before, after_name=after, anonymous=anonymous)


def unsubscribe_url_slot(*, digest_id: int, language: str | None = None) -> str:
    """The unsubscribe link as rendered: the reader's own URL (a slot) + which digest it is in,
    and in the body (with `language`) the language its page opens in.

    Both are the same for every reader, so they go in the render made once (and after the
    slot, so the per-reader value stays exactly what links.unsubscribe_url makes).
    """
    url = f"{SLOT_UNSUBSCRIBE_URL}?{DIGEST_PARAM}={digest_id}"
    return url if language is None else in_language(url, language=language)


def web_url(*, digest: Digest) -> str:
    return f"{settings.SITE_URL}{reverse('newsletters:archive_detail', args=[digest.pk])}"


def forward_url(*, digest: Digest) -> str:
    """A new mail to a friend, with the subject and the web version's link filled in."""
    fields = {"subject": digest.subject, "body": web_url(digest=digest)}
    return "mailto:?" + urlencode(fields, quote_via=quote)


def issue_date(*, digest: Digest) -> datetime:
    """The day the issue goes out (today for a preview), on its list's clock."""
    when = digest.send_at or timezone.now()
    return timezone.localtime(when, zone_or_utc(digest.mailing_list.default_timezone))


def issue_number(*, digest: Digest) -> int:
    """The issue's number on its list: one more than the issues rendered before it."""
    earlier = Digest.objects.filter(
        mailing_list_id=digest.mailing_list_id, rendered_at__isnull=False
    )
    if digest.rendered_at is not None:
        earlier = earlier.filter(rendered_at__lt=digest.rendered_at)
    return earlier.exclude(pk=digest.pk).count() + 1


# An anchor as nh3 writes it (summaries and intros are cleaned by nh3 before they get here).
_ANCHOR = re.compile(r'<a\b[^>]*?\bhref="([^"]*)"[^>]*>(.*?)</a>', re.S | re.I)


def _link_spelled_out(match: re.Match[str]) -> str:
    href, inner = html.unescape(match.group(1)), match.group(2)
    if not href.startswith(("http://", "https://", "mailto:")):
        return inner
    if plain_text(inner, limit=MAX_TEXT) == href:
        return inner
    return f"{inner} ({html.escape(href)})"


def _plain(fragment: str) -> str:
    """Text of an HTML fragment: every link kept as "words (URL)", the other tags dropped,
    entities decoded, whitespace collapsed."""
    return plain_text(_ANCHOR.sub(_link_spelled_out, fragment or ""), limit=MAX_TEXT)


def _wrapped(text: str, indent: str = "") -> str:
    return textwrap.fill(
        text,
        width=TEXT_WIDTH,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ).lstrip()


def intro_html(*, digest: Digest) -> str:
    """The intro as HTML: Markdown rendered and cleaned, or HTML already cleaned when saved."""
    if digest.intro_format == Digest.IntroFormat.HTML:
        return digest.intro
    return markdown_html(digest.intro)


def _image_height(story: Story) -> int | None:
    """The <img> height for IMAGE_WIDTH wide, in the image's proportion; None while unknown."""
    if not (story.image_width and story.image_height):
        return None
    return max(1, round(story.image_height * IMAGE_WIDTH / story.image_width))


def _story_context(item: DigestStory, *, brand: Brand) -> dict[str, Any]:
    story = item.story
    # The editor's wording for this digest, when given, in place of the story's own.
    summary = markdown_html(item.summary_override) if item.summary_override else story.summary
    return {
        "headline": item.headline_override or story.headline,
        "url": link_tagged(story.url, brand=brand),
        "section": story.section,
        "byline": story.byline,
        "image_url": story.image_url,
        "image_alt": story.image_alt,
        "image_height": _image_height(story),
        # Cleaned by nh3 on the way in (stories.py) or just now (markdown_html): safe as HTML.
        "summary_html": mark_safe(summary),  # noqa: S308
        "summary_text": _wrapped(_plain(summary), indent="   "),
    }


def digest_context(*, digest: Digest) -> dict[str, Any]:
    items = list(digest.items.select_related("story").order_by("position", "id"))
    intro = intro_html(digest=digest)
    language = digest.mailing_list.language
    brand = brand_of(digest.mailing_list)
    return {
        "digest": digest,
        "mailing_list": digest.mailing_list,
        "preheader": digest.preheader,
        # Cleaned by nh3 (intro_html): safe to emit as HTML.
        "intro_html": mark_safe(intro),  # noqa: S308
        "intro_text": _wrapped(_plain(intro)),
        "stories": [_story_context(item, brand=brand) for item in items],
        "greeting": SLOT_GREETING_HTML,
        "unsubscribe_url": unsubscribe_url_slot(digest_id=digest.pk, language=language),
        "preferences_url": in_language(SLOT_PREFERENCES_URL, language=language),
        "web_url": web_url(digest=digest),
        "forward_url": forward_url(digest=digest),
        "issue_date": issue_date(digest=digest),
        "issue_number": issue_number(digest=digest),
        "brand": brand,
        "site_name": brand.name,
        "mailing_address": brand.postal_address,
    }


def _short_lines(markup: str) -> str:
    """Break HTML lines longer than MAX_LINE at a space (inside text or between attributes)."""
    out: list[str] = []
    for line in markup.split("\n"):
        while len(line.encode("utf-8")) > MAX_LINE:
            cut = line.rfind(" ", 0, MAX_LINE // 2)
            if cut <= 0:
                cut = line.find(" ", MAX_LINE // 2)
            if cut <= 0:
                break  # one unbreakable token; mime.py will refuse the digest rather than mangle it
            out.append(line[:cut])
            line = line[cut + 1 :]
        out.append(line)
    return "\n".join(out)


def digest_render(*, digest: Digest) -> RenderedDigest:
    """Subject, HTML and text of `digest` with recipient slots, CSS inlined once, in its
    list's language."""
    with translation.override(digest.mailing_list.language):
        context = digest_context(digest=digest)
        subject = " ".join(render_to_string("emails/digest.subject.txt", context).split())
        markup = _inliner.inline(render_to_string("emails/digest.html", context))
        text = render_to_string("emails/digest.txt", {**context, "greeting": SLOT_GREETING_TEXT})
    return RenderedDigest(subject=subject, html=_short_lines(markup), text=text.strip() + "\n")


def archive_html(*, html_with_slots: str, language: str = settings.LANGUAGE_CODE) -> str:
    """The web version: the same HTML, without anything that belongs to one recipient."""
    greeting = html.escape(greeting_make(language=language).anonymous)
    return RECIPIENT_BLOCK.sub("", html_with_slots).replace(SLOT_GREETING_HTML, greeting)


def digest_freeze(*, digest: Digest) -> Digest:
    """Render once and keep it on the digest: what goes out, and what the archive shows.

    Called when sending starts; a digest frozen already keeps its first render, so a resumed or
    retried send can never mail a different version.
    """
    if digest.rendered_at is not None:
        return digest
    rendered = digest_render(digest=digest)
    Digest.objects.filter(pk=digest.pk, rendered_at__isnull=True).update(
        rendered_subject=rendered.subject,
        rendered_html=rendered.html,
        rendered_text=rendered.text,
        rendered_at=timezone.now(),
    )
    digest.refresh_from_db()
    return digest
