"""Putting messages in the outbox the way the app does: through Django's mail classes."""

from __future__ import annotations

from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection


def send(
    *,
    subject: str = "Morning briefing",
    to: str = "reader@example.com",
    from_email: str = "news@example.com",
    html: str | None = "<p>Hello <b>reader</b></p>",
) -> None:
    message = EmailMultiAlternatives(
        subject=subject, body="Hello reader", from_email=from_email, to=[to]
    )
    if html is not None:
        message.attach_alternative(html, "text/html")
    assert get_connection().send_messages([message]) == 1


def send_numbered(count: int) -> None:
    """`Briefing 000` to reader000@example.com first, up to `Briefing {count-1}`, last (newest)."""
    messages: list[EmailMessage] = [
        EmailMessage(
            subject=f"Briefing {number:03d}",
            body="Plain text edition",
            from_email="Tidal Park <news@example.com>",
            to=[f"reader{number:03d}@example.com"],
        )
        for number in range(count)
    ]
    assert get_connection().send_messages(messages) == count
