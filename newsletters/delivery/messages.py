"""Per-recipient message bytes from a digest rendered once.

The message is built once through Django's mail classes (which refuse CR/LF in headers) with the
rendering slots in place, serialized, and split at every slot into byte segments. A recipient's
message is then a join of those segments with their values: a few microseconds instead of the
milliseconds that rendering and serializing per recipient would cost.
"""

from __future__ import annotations

import html
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from mailinglist import links, message_tokens, return_path
from mailinglist.models import MailingList
from newsletters import rendering
from operations.transport.message_ids import message_id_domain
from operations.transport.prepared import PreparedEmailMessage as PreparedEmailMessage

if TYPE_CHECKING:
    from newsletters.models import Digest

_SLOT_PATTERN = re.compile(
    "|".join(re.escape(slot) for slot in sorted(rendering.SLOTS, key=len, reverse=True)).encode()
)
# Values go into 8bit parts and headers as they are: nothing that could end a line or a header.
_UNSAFE = re.compile(r"[\r\n\x00]")


class MessageTemplateError(Exception):
    """The rendered digest cannot be made into safe per-recipient messages; says why."""


@dataclass(frozen=True)
class MessageTemplate:
    segments: tuple[bytes, ...]  # len(slots) + 1 pieces of the serialized message
    slots: tuple[str, ...]  # which value goes between segments[i] and segments[i + 1]
    # The segments with a gap before each but the first, and what picks the gaps' values from a
    # Recipient's values in slot order: a message is a copy, one slice assignment and a join.
    skeleton: tuple[bytes, ...]
    pick: Callable[[dict[str, bytes]], tuple[bytes, ...]]
    envelope_from: str
    mailing_list_id: int
    digest_id: int
    # Signs each reader's links and addresses, one MAC a message (mailinglist.message_tokens).
    signer: message_tokens.MessageSigner
    # "Hello Ada," in the list's language, translated once here rather than per reader.
    greeting: rendering.Greeting
    # BOUNCE_ADDRESS was set: each message's envelope sender is the reader's own signed return
    # path (VERP), and List-Unsubscribe offers a signed mailto: after the https link.
    has_return_paths: bool = False


@dataclass(frozen=True)
class Recipient:
    email: str
    values: dict[str, bytes]
    # MAIL FROM: the reader's signed return path with BOUNCE_ADDRESS set, else the From address.
    # Made with the links, as it is one more slice of the same MAC.
    envelope_from: str


def _from_address(mailing_list: MailingList) -> str:
    address = mailing_list.from_email or str(settings.DEFAULT_FROM_EMAIL)
    if mailing_list.from_email and mailing_list.from_name:
        name = mailing_list.from_name.replace('"', "")
        return f'"{name}" <{address}>'
    return address


_templates: dict[tuple[int, str], MessageTemplate] = {}


def digest_template(digest: Digest) -> MessageTemplate:
    """The digest's template from its frozen render: built once per worker process, then reused
    by every batch (a new render, or another digest, replaces it)."""
    key = (digest.pk, str(digest.rendered_at))
    if key not in _templates:
        _templates.clear()
        _templates[key] = message_template_build(
            digest_id=digest.pk,
            mailing_list=digest.mailing_list,
            rendered=rendering.RenderedDigest(
                subject=digest.rendered_subject,
                html=digest.rendered_html,
                text=digest.rendered_text,
            ),
        )
    return _templates[key]


def message_template_build(
    *,
    digest_id: int,
    mailing_list: MailingList,
    rendered: rendering.RenderedDigest,
    extra_headers: dict[str, str] | None = None,
) -> MessageTemplate:
    """Serialize the digest's message once and split it at the slots.

    Raises MessageTemplateError if any slot did not survive serialization intact (a part fell
    back to quoted-printable, say): better to refuse a digest than to send broken links.
    """
    has_return_paths = return_path.is_enabled()
    unsubscribe = f"<{rendering.unsubscribe_url_slot(digest_id=digest_id)}>"
    if has_return_paths:
        # RFC 8058: mail apps use the first https URI for one-click; the mailto: is for the rest.
        unsubscribe += f", <{rendering.SLOT_UNSUBSCRIBE_MAILTO}>"
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=_from_address(mailing_list),
        to=[rendering.SLOT_TO],
        reply_to=[mailing_list.reply_to] if mailing_list.reply_to else None,
        headers={
            "Message-ID": f"<{rendering.SLOT_MESSAGE_ID}@{message_id_domain()}>",
            "List-Unsubscribe": unsubscribe,
            "List-Unsubscribe-Post": links.ONE_CLICK_POST_BODY,
            "List-Id": links.list_id(mailing_list=mailing_list),
            "Precedence": "bulk",
            # Gmail's feedback loop reports complaints per identifier (a:b:c:SenderId); the same
            # for every message of a digest, so it needs no slot.
            "Feedback-ID": f"{digest_id}:{mailing_list.pk}:digest:newsdesk",
            "Content-Language": mailing_list.language,
            **(extra_headers or {}),
        },
    )
    message.attach_alternative(rendered.html, "text/html")
    mime = message.message()
    # Django encodes a part with a line over 998 bytes as quoted-printable, which may break a
    # slot (or a reader's value) across lines wherever it falls: refuse it whether it did or not.
    encodings = {str(part.get("Content-Transfer-Encoding", "")).lower() for part in mime.walk()}
    if encodings & {"quoted-printable", "base64"}:
        raise MessageTemplateError(
            f"a part was encoded ({', '.join(sorted(encodings - {''}))}): it may contain a line "
            f"longer than {rendering.MAX_LINE} characters"
        )
    raw = mime.as_bytes(linesep="\r\n")
    pieces = _SLOT_PATTERN.split(raw)
    slots = tuple(match.decode() for match in _SLOT_PATTERN.findall(raw))
    expected = {
        rendering.SLOT_TO: 1,
        rendering.SLOT_MESSAGE_ID: 1,
        rendering.SLOT_UNSUBSCRIBE_URL: 3,  # header, text, HTML
        rendering.SLOT_PREFERENCES_URL: 2,
        rendering.SLOT_GREETING_HTML: 1,
        rendering.SLOT_GREETING_TEXT: 1,
        rendering.SLOT_UNSUBSCRIBE_MAILTO: 1 if has_return_paths else 0,
    }
    found = {slot: slots.count(slot) for slot in expected}
    if found != expected:
        raise MessageTemplateError(
            f"per-recipient parts did not survive serialization (expected {expected}, found "
            f"{found}); a part may contain a line longer than {rendering.MAX_LINE} characters"
        )
    around = {
        "unsubscribe": links.around_token("mailinglist:unsubscribe"),
        "preferences": links.around_token("mailinglist:preferences"),
    }
    return_paths = return_path.around_tokens() if has_return_paths else None
    # What the signed values are made of besides the reader's fields, checked once here so that
    # recipient_values need scan only those fields.
    for made_of in [*around.values(), *(return_paths or ())]:
        if any(_UNSAFE.search(part) for part in made_of):
            raise MessageTemplateError(f"a link or return address has a line break: {made_of}")
    signer = message_tokens.MessageSigner(
        list_id=mailing_list.pk,
        digest_id=digest_id,
        unsubscribe=around["unsubscribe"],
        preferences=around["preferences"],
        return_paths=return_paths,
    )
    skeleton = [pieces[0]]
    for piece in pieces[1:]:
        skeleton += [b"", piece]
    return MessageTemplate(
        segments=tuple(pieces),
        slots=slots,
        skeleton=tuple(skeleton),
        pick=operator.itemgetter(*slots),  # nine slots at least (expected above): a tuple
        # The bare address (MAIL FROM takes no display name), parsed here once for every reader.
        envelope_from=parseaddr(message.from_email)[1] or message.from_email,
        mailing_list_id=mailing_list.pk,
        digest_id=digest_id,
        signer=signer,
        greeting=rendering.greeting_make(language=mailing_list.language),
        has_return_paths=has_return_paths,
    )


def message_id(*, digest_id: int, subscriber: Addressee) -> str:
    """Stable per (digest, subscriber): a retried send carries the same Message-ID."""
    return f"digest-{digest_id}.{subscriber.public_id}"


class Addressee(Protocol):
    """What a message needs of its reader: a Subscriber, or the batch's claimed row's reader."""

    @property
    def pk(self) -> int | None: ...
    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def public_id(self) -> str: ...


def recipient_values(*, template: MessageTemplate, subscriber: Addressee) -> Recipient:
    """The slot values for one subscriber, refused if the reader's own fields hold CR/LF/NUL.

    Only those fields are scanned: every other byte of a value is the template's own (checked
    when it was built), digits or hex.
    """
    email, name, public_id = subscriber.email, subscriber.name.strip(), subscriber.public_id
    if _UNSAFE.search(email) or _UNSAFE.search(name) or _UNSAFE.search(public_id):
        raise MessageTemplateError(
            f"the address, name or id of subscriber {subscriber.pk} has a line break"
        )
    greeting = template.greeting.for_name(name)
    # One MAC for the message's four signed values. A stand-in reader (a test send) has no id:
    # 0 names nobody, so its links and mailto unsubscribe no one.
    signed = template.signer.sign(subscriber_id=subscriber.pk or 0, public_id=public_id)
    values = {
        rendering.SLOT_TO: email.encode("ascii"),
        rendering.SLOT_MESSAGE_ID: message_id(
            digest_id=template.digest_id, subscriber=subscriber
        ).encode(),
        rendering.SLOT_UNSUBSCRIBE_URL: signed.unsubscribe.encode("ascii"),
        rendering.SLOT_PREFERENCES_URL: signed.preferences.encode("ascii"),
        rendering.SLOT_GREETING_HTML: html.escape(greeting).encode("utf-8"),
        rendering.SLOT_GREETING_TEXT: greeting.encode("utf-8"),
    }
    envelope_from = template.envelope_from
    if template.has_return_paths:
        values[rendering.SLOT_UNSUBSCRIBE_MAILTO] = signed.mailto.encode("ascii")
        envelope_from = signed.bounce
    return Recipient(email=email, values=values, envelope_from=envelope_from)


def message_bytes(*, template: MessageTemplate, recipient: Recipient) -> bytes:
    """The recipient's complete message: segments joined with their values."""
    parts = list(template.skeleton)
    parts[1::2] = template.pick(recipient.values)
    return b"".join(parts)
