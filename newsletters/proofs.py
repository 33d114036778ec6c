"""Preview and test send: the digest as readers will get it, before anyone does."""

from __future__ import annotations

import html

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from mailinglist.models import MailingList, Subscriber
from newsletters import rendering
from newsletters.delivery import messages
from newsletters.models import Digest
from operations import transport

TEST_SUBJECT_PREFIX = "[TEST] "
# A seed list is a handful of colleagues, not an audience: test sends skip the ledger.
MAX_SEED_ADDRESSES = 25


class ProofSendFailed(Exception):
    """The mail server or ESP would not take the test copy; says what it answered."""


def seed_addresses(*, mailing_list: MailingList) -> list[str]:
    """The list's seed list: valid addresses, one per line, each once, capped."""
    found: dict[str, None] = {}
    for line in mailing_list.seed_addresses.splitlines():
        address = line.strip().strip(",;")
        try:
            validate_email(address)
        except ValidationError:
            continue
        found.setdefault(address, None)
    return list(found)[:MAX_SEED_ADDRESSES]


def digest_preview(*, digest: Digest) -> rendering.RenderedDigest:
    """Subject, HTML and text with sample recipient values, for the admin's preview."""
    rendered = rendering.digest_render(digest=digest)
    greeting = rendering.greeting_make(language=digest.mailing_list.language).for_name("Alex")
    sample = {
        rendering.SLOT_GREETING_HTML: html.escape(greeting),
        rendering.SLOT_GREETING_TEXT: greeting,
        rendering.SLOT_UNSUBSCRIBE_URL: "#unsubscribe-link-for-each-reader",
        rendering.SLOT_PREFERENCES_URL: "#preferences-link-for-each-reader",
    }
    markup, text = rendered.html, rendered.text
    for slot, value in sample.items():
        markup, text = markup.replace(slot, value), text.replace(slot, value)
    return rendering.RenderedDigest(subject=rendered.subject, html=markup, text=text)


def digest_test_send(*, digest_id: int, to_email: str, name: str = "") -> str:
    """Send the digest to one staff address, marked as a test; returns its Message-ID.

    The links in it are made for a stand-in reader who is on no list, so clicking "unsubscribe"
    in a test changes nobody's subscription.
    """
    digest = Digest.objects.select_related("mailing_list").get(pk=digest_id)
    rendered = rendering.digest_render(digest=digest)
    rendered = rendering.RenderedDigest(
        subject=TEST_SUBJECT_PREFIX + rendered.subject, html=rendered.html, text=rendered.text
    )
    template = messages.message_template_build(
        digest_id=digest.pk,
        mailing_list=digest.mailing_list,
        rendered=rendered,
        extra_headers={"X-Newsdesk-Test": "yes"},
    )
    stand_in = Subscriber(email=to_email, name=name, public_id=f"test-{digest.pk}-staff")
    recipient = messages.recipient_values(template=template, subscriber=stand_in)
    # The same sender as the digest itself (SMTP, an ESP through anymail, or the outbox), so the
    # test copy goes out exactly as readers' copies will.
    outcome = transport.message_send(
        from_address=template.envelope_from,
        to=to_email,
        raw=messages.message_bytes(template=template, recipient=recipient),
    )
    if not outcome.ok:
        raise ProofSendFailed(outcome.error)
    return recipient.values[rendering.SLOT_MESSAGE_ID].decode()
