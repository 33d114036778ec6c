"""The digest message: rendered once, filled per recipient, parsed back as a mail client would."""

from __future__ import annotations

import html
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext

from mailinglist.models import MailingList
from newsletters import rendering
from newsletters.delivery import messages
from newsletters.models import Digest
from tests.factories import MailingListFactory, SubscriberFactory, logo_png
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def build(digest: Digest) -> messages.MessageTemplate:
    return messages.message_template_build(
        digest_id=digest.pk,
        mailing_list=digest.mailing_list,
        rendered=rendering.digest_render(digest=digest),
    )


def test_each_recipient_gets_a_complete_multipart_message_with_list_headers() -> None:
    digest = make_digest()
    template = build(digest)
    subscriber = SubscriberFactory.create(email="ada@example.com", name="Ada <Lovelace>")

    raw = messages.message_bytes(
        template=template,
        recipient=messages.recipient_values(template=template, subscriber=subscriber),
    )
    message = parse(raw)

    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Tuesday: harbour park, rail strike, the week in culture"
    assert message["Message-ID"] == f"<digest-{digest.pk}.{subscriber.public_id}@127.0.0.1>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == '"The Morning Briefing" <morning.127.0.0.1>'
    unsubscribe = message["List-Unsubscribe"].strip().strip("<>")
    assert unsubscribe.startswith("http://127.0.0.1:8000/unsubscribe/")
    text_body, html_body = text.get_content(), html.get_content()
    assert unsubscribe in text_body and unsubscribe in html_body
    assert "/preferences/" in text_body and "/preferences/" in html_body
    assert "Hello Ada <Lovelace>," in text_body
    assert "Hello Ada &lt;Lovelace&gt;," in html_body  # the reader's name is escaped in HTML
    assert f"/archive/{digest.pk}/" in text_body and f"/archive/{digest.pk}/" in html_body
    assert "1 Example Street" in text_body and "1 Example Street" in html_body
    for slot in rendering.SLOTS:
        assert slot not in raw.decode("utf-8")


def test_css_is_inlined_and_media_queries_kept() -> None:
    rendered = rendering.digest_render(digest=make_digest(stories=2))

    assert 'class="headline" href=' in rendered.html
    assert re.search(
        r'<a class="headline" href="[^"]+" style="[^"]*font-family: Georgia', rendered.html
    )
    assert "@media only screen and (max-width: 620px)" in rendered.html


def test_text_part_is_written_for_text_readers() -> None:
    rendered = rendering.digest_render(digest=make_digest(stories=3))

    assert "<" not in rendered.text.replace("<Lovelace>", "")
    assert "1. Story number 0 about the harbour & the city" in rendered.text
    assert "   Read more: https://news.example.com/2026/" in rendered.text
    assert "and pays for itself." in rendered.text
    assert max(len(line) for line in rendered.text.splitlines()) < 200


def test_the_text_part_keeps_every_link_of_the_intro_and_the_summaries() -> None:
    digest = make_digest(
        stories=1,
        intro='<p>Read <a href="https://news.example.com/live">our live page</a> today.</p>',
    )
    story = digest.items.get().story
    story.summary = (
        '<p>The <a href="https://council.example.org/report.pdf">council&#39;s report</a> '
        'and <a href="https://news.example.com/x">https://news.example.com/x</a>.</p>'
    )
    story.save()

    text = rendering.digest_render(digest=digest).text

    flat = " ".join(text.split())  # the text part wraps at 76 columns
    assert "Read our live page (https://news.example.com/live) today." in flat
    assert "council's report (https://council.example.org/report.pdf)" in flat
    # A link whose words are its address is not written twice.
    assert "and https://news.example.com/x." in flat
    assert "(https://news.example.com/x)" not in flat


def test_a_digest_has_a_newsroom_masthead_a_dateline_and_a_way_to_forward_it() -> None:
    morning = MailingListFactory.create(name="The Morning Briefing", slug="morning")
    earlier = make_digest(stories=1, mailing_list=morning)
    rendering.digest_freeze(digest=earlier)
    digest = make_digest(stories=2, mailing_list=morning, send_at=timezone.now())

    rendered = rendering.digest_render(digest=digest)

    top = rendered.html.index("View in your browser")
    assert top < rendered.html.index("The Morning Briefing")  # before the masthead
    day = timezone.localtime(digest.send_at, ZoneInfo(morning.default_timezone))
    dateline = f"{date_format(day, 'l')}, {date_format(day, 'DATE_FORMAT')} · Issue 2"
    assert dateline in rendered.html and dateline in rendered.text
    assert rendered.html.count("Read more") == 2
    assert 'content="light dark"' in rendered.html
    assert "@media (prefers-color-scheme: dark)" in rendered.html
    forward = re.search(r'href="(mailto:\?[^"]+)"', rendered.html)
    assert forward is not None
    assert f"/archive/{digest.pk}/" in unquote(html.unescape(forward.group(1)))


def test_two_recipients_differ_only_in_their_own_parts() -> None:
    digest = make_digest(stories=2)
    template = build(digest)
    first, second = SubscriberFactory.create(), SubscriberFactory.create()

    one = messages.message_bytes(
        template=template,
        recipient=messages.recipient_values(template=template, subscriber=first),
    )
    two = messages.message_bytes(
        template=template,
        recipient=messages.recipient_values(template=template, subscriber=second),
    )

    assert first.email.encode() in one and first.email.encode() not in two
    assert parse(one)["Message-ID"] != parse(two)["Message-ID"]
    assert parse(one)["Subject"] == parse(two)["Subject"]


def test_a_huge_unbroken_line_is_refused_rather_than_mangled() -> None:
    digest = make_digest(stories=1, intro="<p>" + "x" * 5000 + "</p>")

    with pytest.raises(messages.MessageTemplateError, match="longer than"):
        build(digest)


def test_long_paragraphs_are_wrapped_and_still_build() -> None:
    digest = make_digest(stories=1, intro="<p>" + "word " * 2000 + "</p>")

    template = build(digest)

    assert template.slots.count(rendering.SLOT_UNSUBSCRIBE_URL) == 3


def test_the_web_version_has_no_recipient_parts() -> None:
    rendered = rendering.digest_render(digest=make_digest(stories=1))

    web = rendering.archive_html(html_with_slots=rendered.html)

    assert rendering.SLOT_UNSUBSCRIBE_URL not in web
    assert rendering.SLOT_PREFERENCES_URL not in web
    assert rendering.SLOT_GREETING_HTML not in web
    assert "Hello," in web


@pytest.mark.parametrize(
    "field",
    [{"name": "Ada\r\nBcc: everyone@example.com"}, {"name": "Ada\x00"}, {"email": "a\n@x.io"}],
)
def test_a_reader_field_that_could_end_a_header_is_refused(field: dict[str, str]) -> None:
    # The values go into headers and 8bit parts as they are; only the reader's own fields can
    # carry a line break, so those are what recipient_values scans.
    template = build(make_digest())
    reader = SubscriberFactory.build(pk=7, **field)

    with pytest.raises(messages.MessageTemplateError, match="subscriber 7 has a line break"):
        messages.recipient_values(template=template, subscriber=reader)


def test_the_message_is_the_segments_with_each_slot_filled_in_order() -> None:
    template = build(make_digest())
    reader = SubscriberFactory.create(email="ada@example.com", name="Ada")
    recipient = messages.recipient_values(template=template, subscriber=reader)

    raw = messages.message_bytes(template=template, recipient=recipient)

    pieces = [template.segments[0]]
    for slot, segment in zip(template.slots, template.segments[1:], strict=True):
        pieces += [recipient.values[slot], segment]
    assert raw == b"".join(pieces)
    assert raw.count(recipient.values[rendering.SLOT_UNSUBSCRIBE_URL]) == 3


def test_a_digest_is_written_in_its_lists_language_and_read_right_to_left_in_arabic() -> None:
    arabic = MailingListFactory.create(name="نشرة الصباح", slug="sabah", language="ar")
    digest = make_digest(stories=2, mailing_list=arabic)
    template = build(digest)
    reader = SubscriberFactory.create(email="layla@example.com", name="ليلى")

    message = parse(
        messages.message_bytes(
            template=template,
            recipient=messages.recipient_values(template=template, subscriber=reader),
        )
    )

    with translation.override("ar"):
        hello = gettext("Hello %(name)s,") % {"name": "ليلى"}
        unsubscribe_words = gettext("Unsubscribe")
    assert unsubscribe_words != "Unsubscribe" and not hello.startswith("Hello")
    assert message["Content-Language"] == "ar"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    text_body, html_body = text.get_content(), html.get_content()
    assert '<html lang="ar" dir="rtl"' in html_body
    assert hello in text_body and hello in html_body
    assert unsubscribe_words in text_body and unsubscribe_words in html_body
    # The links open the reader's pages in the list's language; the one-click header needs none.
    assert f"?digest={digest.pk}&amp;lang=ar" in html_body
    assert "?lang=ar" in text_body
    assert message["List-Unsubscribe"].strip().strip("<>").endswith(f"?digest={digest.pk}")
    # The web version greets nobody in particular, in the list's language too.
    with translation.override("ar"):
        anonymous = gettext("Hello,")
    rendered = rendering.digest_render(digest=digest)
    archived = rendering.archive_html(html_with_slots=rendered.html, language="ar")
    assert anonymous in archived and anonymous != "Hello,"


def test_a_digest_carries_its_lists_brand_and_tags_its_story_links(
    settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    morning = MailingListFactory.create(
        slug="morning",
        name="The Morning Briefing",
        masthead_name="The Ledger Morning",
        logo_alt="The Ledger",
        accent_colour="#1a5fb4",
        footer_text="Edited overnight in Springfield.",
        postal_address="2 Quay Street, Springfield",
    )
    morning.logo.save("logo.png", logo_png(300, 60))
    digest = make_digest(stories=2, mailing_list=MailingList.objects.get(pk=morning.pk))

    rendered = rendering.digest_render(digest=digest)

    assert re.search(
        r'<img src="http://127\.0\.0\.1:8000/media/logos/[^"]+" width="200" '
        r'height="40" alt="The Ledger"',
        rendered.html,
    )
    assert "color: #1a5fb4" in rendered.html  # section labels, inlined
    assert "Edited overnight in Springfield." in rendered.html
    assert "The Ledger Morning, 2 Quay Street, Springfield" in rendered.html
    assert "The Ledger Morning, 2 Quay Street, Springfield" in rendered.text
    tagged = "utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=morning"
    assert rendered.html.count(tagged) >= 2  # every story's links
    assert "utm_source=newsletter&utm_medium=email&utm_campaign=morning" in rendered.text
