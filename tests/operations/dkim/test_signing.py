"""Signatures dkimpy verifies, over the headers RFC 8058 needs, that break when tampered with."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives

from mailinglist.models import Subscriber
from newsletters import rendering
from newsletters.delivery import messages
from operations.dkim.signing import DkimSigner
from tests.factories import SubscriberFactory
from tests.newsletters.digests import make_digest
from tests.operations.dkim.keyring import key_made, signed_names, verifies

ALGORITHMS = ["rsa", "ed25519"]


def _digest_messages(count: int) -> list[bytes]:
    """Real per-reader digest bytes, made as the engine makes them."""
    digest = make_digest(stories=10)
    template = messages.message_template_build(
        digest_id=digest.pk,
        mailing_list=digest.mailing_list,
        rendered=rendering.digest_render(digest=digest),
    )
    readers: list[Subscriber] = [SubscriberFactory.create() for _ in range(count)]
    return [
        messages.message_bytes(
            template=template,
            recipient=messages.recipient_values(template=template, subscriber=reader),
        )
        for reader in readers
    ]


def _signer(tmp_path: Path, algorithm: str) -> tuple[DkimSigner, object]:
    made = key_made(tmp_path, algorithm=algorithm)  # type: ignore[arg-type]
    return DkimSigner(domain="news.example.com", selector="s1", private_key=made.key), made.record


@pytest.mark.django_db
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_digest_for_two_readers_verifies_with_the_list_headers_signed(
    tmp_path: Path, algorithm: str
) -> None:
    signer, record = _signer(tmp_path, algorithm)

    signed = [signer.sign(raw) for raw in _digest_messages(2)]

    assert signed[0] != signed[1]
    for message in signed:
        assert verifies(message, record)  # type: ignore[arg-type]
        names = signed_names(message)
        assert f"a={algorithm}-sha256" in message.split(b"\r\n\r\n")[0].decode()
        for name in ("from", "to", "subject", "date", "message-id", "list-id"):
            assert name in names
        for name in ("mime-version", "content-type"):
            assert name in names
        # Over-signed: one more than present, so a second copy cannot be added unnoticed.
        assert names.count("list-unsubscribe") == 2
        assert names.count("list-unsubscribe-post") == 2
        assert names.count("from") == 2 and names.count("subject") == 2


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_transactional_message_with_folded_headers_and_odd_spacing_verifies(
    tmp_path: Path, algorithm: str
) -> None:
    signer, record = _signer(tmp_path, algorithm)
    message = EmailMultiAlternatives(
        subject="Confirm   your subscription to Le Monde   du matin — " + "très " * 20,
        body="Press the button:\nhttps://news.example.com/c/abc\n\n\n\n",
        from_email='"Le Matin" <matin@alerts.news.example.com>',
        to=["reader@example.org"],
        reply_to=["desk@news.example.com"],
        headers={"Feedback-ID": "confirm:newsdesk"},
    )
    raw = message.message().as_bytes(linesep="\r\n")

    signed = signer.sign(raw)

    assert verifies(signed, record)  # type: ignore[arg-type]
    assert {"reply-to", "feedback-id", "content-transfer-encoding"} <= set(signed_names(signed))
    assert signed.endswith(raw)  # the message itself is untouched, only a header prepended
    head = signed.split(b"\r\n\r\n")[0].decode()
    assert all(len(line) < 998 for line in head.split("\r\n"))


@pytest.mark.django_db
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_changed_body_or_subject_fails(tmp_path: Path, algorithm: str) -> None:
    signer, record = _signer(tmp_path, algorithm)
    signed = signer.sign(_digest_messages(1)[0])

    body_changed = signed.replace(b"Story number 3", b"Story number 4", 1)
    subject_changed = signed.replace(b"Subject: Tuesday", b"Subject: Wednesday", 1)

    assert body_changed != signed and subject_changed != signed
    assert not verifies(body_changed, record)  # type: ignore[arg-type]
    assert not verifies(subject_changed, record)  # type: ignore[arg-type]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "added",
    [
        b"List-Unsubscribe: <https://attacker.example/u>\r\n",
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        b"From: ceo@news.example.com\r\n",
        b"Subject: Urgent: reset your password\r\n",
    ],
)
def test_an_added_copy_of_an_over_signed_header_breaks_the_signature(
    tmp_path: Path, added: bytes
) -> None:
    signer, record = _signer(tmp_path, "ed25519")
    signed = signer.sign(_digest_messages(1)[0])
    head, body = signed.split(b"\r\n\r\n", 1)

    assert verifies(signed, record)  # type: ignore[arg-type]
    # Prepended after the signature (where a forwarder would add one), and appended at the end.
    signature_end = head.index(b"\r\n", head.index(b" b=")) + 2
    while head[signature_end : signature_end + 1] in (b" ", b"\t"):
        signature_end = head.index(b"\r\n", signature_end) + 2
    after_signature = head[:signature_end] + added + head[signature_end:] + b"\r\n\r\n" + body
    at_the_end = head + b"\r\n" + added + b"\r\n" + body
    assert not verifies(after_signature, record)  # type: ignore[arg-type]
    assert not verifies(at_the_end, record)  # type: ignore[arg-type]


def test_a_header_not_over_signed_can_be_added_without_breaking_it(tmp_path: Path) -> None:
    # The contrast that shows the over-signing is what defeats the additions above.
    signer, record = _signer(tmp_path, "rsa")
    raw = EmailMultiAlternatives(
        subject="Hello", body="Hi", from_email="a@news.example.com", to=["b@example.org"]
    ).message()
    signed = signer.sign(raw.as_bytes(linesep="\r\n"))
    head, body = signed.split(b"\r\n\r\n", 1)

    assert verifies(head + b"\r\nX-Spam-Score: 0.1\r\n\r\n" + body, record)  # type: ignore[arg-type]


def test_a_message_without_a_body_or_with_trailing_blank_lines_verifies(tmp_path: Path) -> None:
    signer, record = _signer(tmp_path, "rsa")
    for raw in (
        b"From: a@news.example.com\r\nTo: b@example.org\r\nSubject: x\r\n",
        b"From: a@news.example.com\r\nSubject: x\r\n\r\n",
        b"From: a@news.example.com\r\nSubject: x\r\n\r\nText\r\n\r\n\r\n",
    ):
        assert verifies(signer.sign(raw), record), raw  # type: ignore[arg-type]


@pytest.mark.django_db
def test_the_outbox_gets_the_signed_bytes_when_the_key_is_aligned(
    tmp_path: Path, settings: object
) -> None:
    from operations.transport import message_send

    made = key_made(tmp_path, algorithm="ed25519")
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = "news.example.com", "s1"  # type: ignore[attr-defined]
    settings.DKIM_PRIVATE_KEY_FILE = str(made.path)  # type: ignore[attr-defined]
    raw = b"From: News <desk@news.example.com>\r\nTo: r@example.org\r\nSubject: Hi\r\n\r\nHi\r\n"

    assert message_send(from_address="desk@news.example.com", to="r@example.org", raw=raw).ok

    sent = mail.outbox[-1].message().as_bytes()
    assert sent.startswith(b"DKIM-Signature: ") and verifies(sent, made.record)
