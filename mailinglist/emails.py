"""Render and send one transactional mail (confirmation, welcome) from emails/<name>.* templates.

One renderer for subject, text and HTML from the same context, as Zulip does: the text part is
written for people reading text, not stripped from the HTML.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.template.loader import render_to_string

from mailinglist import links
from mailinglist.models import MailingList, Subscriber


def _from_header(mailing_list: MailingList | None) -> str:
    if mailing_list is not None and mailing_list.from_email:
        if mailing_list.from_name:
            name = mailing_list.from_name.replace('"', "")
            return f'"{name}" <{mailing_list.from_email}>'
        return mailing_list.from_email
    return str(settings.DEFAULT_FROM_EMAIL)


def email_render(*, template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) of emails/<template>.subject.txt|.txt|.html."""
    rendered_subject = render_to_string(f"emails/{template}.subject.txt", context)
    # A subject is one line whatever the template's whitespace (and CR/LF would be refused anyway).
    subject = " ".join(rendered_subject.split())
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    return subject, text, html


def email_send(
    *,
    template: str,
    to: str,
    context: dict[str, Any],
    mailing_list: MailingList | None = None,
    headers: dict[str, str] | None = None,
) -> str:
    """Render and send one mail over EMAIL_URL; returns its Message-ID. Errors propagate."""
    subject, text, html = email_render(template=template, context=context)
    domain = (str(settings.DEFAULT_FROM_EMAIL).rsplit("@", 1)[-1].strip(" >")) or "localhost"
    message_id = make_msgid(domain=domain)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=_from_header(mailing_list),
        to=[to],
        reply_to=[mailing_list.reply_to]
        if mailing_list is not None and mailing_list.reply_to
        else None,
        headers={"Message-ID": message_id, **(headers or {})},
    )
    message.attach_alternative(html, "text/html")
    with get_connection(fail_silently=False) as connection:
        connection.send_messages([message])
    return message_id


def confirmation_send(*, subscriber: Subscriber, lists: list[MailingList]) -> str:
    context = {
        "subscriber": subscriber,
        "lists": lists,
        "confirm_url": links.confirm_url(subscriber=subscriber, list_ids=[m.pk for m in lists]),
        "site_url": settings.SITE_URL,
        "mailing_address": settings.MAILING_ADDRESS,
    }
    return email_send(template="confirm", to=subscriber.email, context=context)


def welcome_send(*, subscriber: Subscriber, mailing_list: MailingList) -> str:
    context = {
        "subscriber": subscriber,
        "mailing_list": mailing_list,
        "unsubscribe_url": links.unsubscribe_url(subscriber=subscriber, mailing_list=mailing_list),
        "preferences_url": links.preferences_url(subscriber=subscriber),
        "site_url": settings.SITE_URL,
        "mailing_address": settings.MAILING_ADDRESS,
    }
    return email_send(
        template="welcome",
        to=subscriber.email,
        context=context,
        mailing_list=mailing_list,
        headers=links.list_headers(subscriber=subscriber, mailing_list=mailing_list),
    )
