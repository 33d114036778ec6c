"""Render and send one transactional mail (confirmation, welcome) from emails/<name>.* templates.

One renderer for subject, text and HTML from the same context, as Zulip does: the text part is
written for people reading text, not stripped from the HTML. The message is built with Django's
mail classes and handed to the product's one transport (operations.transport), the path digests
take, on a lane of its own: it never waits for a digest's send rate.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.template.loader import render_to_string

from mailinglist import links, tokens
from mailinglist.data_links import data_link_lifetime
from mailinglist.models import MailingList, Subscriber
from operations import transport


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
    """Render and send one mail over EMAIL_URL; returns its Message-ID.

    Raises transport.TransportFailure, with the server's answer, if the mail was not taken.
    """
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
    outcome = transport.email_message_send(message=message)
    if not outcome.ok:
        raise transport.TransportFailure(outcome)
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


def welcome_send(*, subscriber: Subscriber, lists: list[MailingList]) -> str:
    """One welcome naming every list the reader just confirmed, however many.

    Lists may have different senders; one mail has one From, so it comes from the first list's
    sender (and carries that list's List-Unsubscribe headers), while its body gives an
    unsubscribe link per list. Once lists have languages (#9), the caller sends one welcome per
    language, each in its own.
    """
    first = lists[0]
    context = {
        "subscriber": subscriber,
        "lists": lists,
        "mailing_list": first,
        "list_links": [
            (mailing_list, links.unsubscribe_url(subscriber=subscriber, mailing_list=mailing_list))
            for mailing_list in lists
        ],
        "preferences_url": links.preferences_url(subscriber=subscriber),
        "site_url": settings.SITE_URL,
        "mailing_address": settings.MAILING_ADDRESS,
    }
    return email_send(
        template="welcome",
        to=subscriber.email,
        context=context,
        mailing_list=first,
        headers=links.list_headers(subscriber=subscriber, mailing_list=first),
    )


def address_change_send(*, subscriber: Subscriber, new_email: str, change_url: str) -> str:
    """The link that moves a reader's newsletters to `new_email`, sent to that address."""
    context = {
        "subscriber": subscriber,
        "new_email": new_email,
        "change_url": change_url,
        "mailing_address": settings.MAILING_ADDRESS,
    }
    return email_send(template="address_change", to=new_email, context=context)


def address_changed_notice_send(*, subscriber: Subscriber, old_email: str) -> str:
    """A short notice to the address a reader left, in case it was not them."""
    context = {
        "subscriber": subscriber,
        "new_email_masked": email_mask(subscriber.email),
        "mailing_address": settings.MAILING_ADDRESS,
    }
    return email_send(template="address_changed", to=old_email, context=context)


def data_link_send(*, subscriber: Subscriber, purpose: tokens.DataPurpose, url: str) -> str:
    """The link that opens a reader's data (download or erasure), to their own address."""
    context = {
        "subscriber": subscriber,
        "url": url,
        "lifetime": data_link_lifetime(),
        "mailing_address": settings.MAILING_ADDRESS,
    }
    return email_send(template=f"data_{purpose}", to=subscriber.email, context=context)


def email_mask(email: str) -> str:
    """`ada@example.com` → `a••@example.com`: enough for the owner to recognise it, no more."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}{'•' * min(max(len(local) - 1, 2), 6)}@{domain}"
