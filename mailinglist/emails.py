"""Render and send one transactional mail (confirmation, welcome) from emails/<name>.* templates.

One renderer for subject, text and HTML from the same context, as Zulip does: the text part is
written for people reading text, not stripped from the HTML. The message is built with Django's
mail classes and handed to the product's one transport (operations.transport), the path digests
take, on a lane of its own: it never waits for a digest's send rate. What headers each mail
carries, and why, is docs/deliverability.md's "Headers every mail carries".
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from mailinglist import links, return_path, tokens
from mailinglist.branding import brand_of
from mailinglist.data_links import data_link_lifetime
from mailinglist.models import MailingList, Subscriber, Subscription
from operations import transport
from operations.transport.message_ids import message_id_make


def _from_header(mailing_list: MailingList | None) -> str:
    if mailing_list is not None and mailing_list.from_email:
        if mailing_list.from_name:
            name = mailing_list.from_name.replace('"', "")
            return f'"{name}" <{mailing_list.from_email}>'
        return mailing_list.from_email
    return str(settings.DEFAULT_FROM_EMAIL)


def email_render(
    *, template: str, context: dict[str, Any], language: str = settings.LANGUAGE_CODE
) -> tuple[str, str, str]:
    """(subject, text, html) of emails/<template>.subject.txt|.txt|.html, in `language`, under
    the brand in the context (the site's own if none): its name and postal address are what
    the templates call `site_name` and `mailing_address`."""
    brand = context.get("brand") or brand_of(None)
    full = {"site_name": brand.name, "mailing_address": brand.postal_address, **context}
    full["brand"] = brand
    with translation.override(language):
        rendered_subject = render_to_string(f"emails/{template}.subject.txt", full)
        text = render_to_string(f"emails/{template}.txt", full)
        html = render_to_string(f"emails/{template}.html", full)
    # A subject is one line whatever the template's whitespace (and CR/LF would be refused anyway).
    subject = " ".join(rendered_subject.split())
    return subject, text, html


def mail_language(mailing_list: MailingList | None) -> str:
    """The language of a mail about `mailing_list` (the site's own for a reader on no list)."""
    return mailing_list.language if mailing_list is not None else settings.LANGUAGE_CODE


def _in_mail_language(url: str, *, about: tuple[MailingList, str] | None) -> str:
    return links.in_language(url, language=mail_language(about[0] if about else None))


def _reader_link(subscriber: Subscriber) -> tuple[MailingList, str] | None:
    """The list a mail about the reader as a whole (their address, their data) is filed under,
    with its unsubscribe link: their first list still current (pending or active), else the
    first they were ever on (the link then says they have left it)."""
    on_lists = MailingList.objects.order_by("pk")
    current = on_lists.filter(
        subscriptions__subscriber=subscriber,
        subscriptions__state__in=[Subscription.State.PENDING, Subscription.State.ACTIVE],
    ).first()
    mailing_list = current or on_lists.filter(subscriptions__subscriber=subscriber).first()
    if mailing_list is None:
        return None
    return mailing_list, _unsubscribe_link(subscriber=subscriber, mailing_list=mailing_list)


def _unsubscribe_link(*, subscriber: Subscriber, mailing_list: MailingList) -> str:
    """The list's unsubscribe link, opening its page in the list's language."""
    url = links.unsubscribe_url(subscriber=subscriber, mailing_list=mailing_list)
    return links.in_language(url, language=mailing_list.language)


def _envelope_from(*, reader: Subscriber, to: str) -> str | None:
    if not return_path.is_enabled():
        return None  # the From header's address, as before BOUNCE_ADDRESS existed
    if to.lower() != reader.email.lower():
        # A new address to confirm, or one the reader left: a bounce of it is not theirs, so it
        # comes back to BOUNCE_ADDRESS unsigned and suppresses nobody's current address.
        return str(settings.BOUNCE_ADDRESS)
    return return_path.bounce_address(subscriber_id=reader.pk)


def email_send(
    *,
    template: str,
    to: str,
    context: dict[str, Any],
    reader: Subscriber,
    about: tuple[MailingList, str] | None,
    sender: MailingList | None = None,
) -> str:
    """Render and send one mail to a reader over EMAIL_URL; returns its Message-ID.

    It carries a Message-ID on our domain, and the List-Id and List-Unsubscribe of the list it
    is `about` (that list and the unsubscribe link its body shows, also in the context as
    `list_unsubscribe`); a reader on no list gets neither. It is not bulk mail, so no
    RFC 8058 one-click header and no Precedence: bulk. With BOUNCE_ADDRESS set, mail to the
    reader's own address leaves with their signed return path. `sender` picks From/Reply-To.
    Raises transport.TransportFailure, with the server's answer, if the mail was not taken.
    """
    # The list the mail is about speaks for it (its language, its brand); else its sender.
    speaking = about[0] if about is not None else sender
    language = mail_language(speaking)
    headers = {"Message-ID": message_id_make(), "Content-Language": language}
    if about is not None:
        mailing_list, unsubscribe_url = about
        headers |= links.transactional_list_headers(
            mailing_list=mailing_list, unsubscribe_url=unsubscribe_url
        )
        context = {
            **context,
            "list_unsubscribe": {"mailing_list": mailing_list, "url": unsubscribe_url},
        }
    context = {**context, "brand": brand_of(speaking)}
    subject, text, html = email_render(template=template, context=context, language=language)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=_from_header(sender),
        to=[to],
        reply_to=[sender.reply_to] if sender is not None and sender.reply_to else None,
        headers=headers,
    )
    message.attach_alternative(html, "text/html")
    outcome = transport.email_message_send(
        message=message, envelope_from=_envelope_from(reader=reader, to=to)
    )
    if not outcome.ok:
        raise transport.TransportFailure(outcome)
    return headers["Message-ID"]


def confirmation_send(*, subscriber: Subscriber, lists: list[MailingList]) -> str:
    """Ask to confirm `lists`; each can be cancelled from the mail (its unsubscribe link), and
    the headers name the first, as one mail has one List-Id. It is in the first list's
    language: §4 allows one confirmation per signup, so lists in two languages share it."""
    cancel_links = [
        (mailing_list, _unsubscribe_link(subscriber=subscriber, mailing_list=mailing_list))
        for mailing_list in lists
    ]
    confirm_url = links.confirm_url(subscriber=subscriber, list_ids=[m.pk for m in lists])
    context = {
        "subscriber": subscriber,
        "lists": lists,
        "confirm_url": links.in_language(confirm_url, language=lists[0].language),
        "cancel_links": cancel_links,
        "site_url": settings.SITE_URL,
    }
    return email_send(
        template="confirm",
        to=subscriber.email,
        context=context,
        reader=subscriber,
        about=cancel_links[0],
    )


def welcome_send(*, subscriber: Subscriber, lists: list[MailingList]) -> str:
    """One welcome naming every list the reader just confirmed, however many.

    Lists may have different senders; one mail has one From, so it comes from the first list's
    sender (and carries that list's List-* headers), while its body gives an unsubscribe link
    per list. It is in the first list's language, as the confirmation was.
    """
    first = lists[0]
    list_links = [
        (mailing_list, _unsubscribe_link(subscriber=subscriber, mailing_list=mailing_list))
        for mailing_list in lists
    ]
    context = {
        "subscriber": subscriber,
        "lists": lists,
        "mailing_list": first,
        "list_links": list_links,
        "preferences_url": links.in_language(
            links.preferences_url(subscriber=subscriber), language=first.language
        ),
        "site_url": settings.SITE_URL,
    }
    return email_send(
        template="welcome",
        to=subscriber.email,
        context=context,
        reader=subscriber,
        about=list_links[0],
        sender=first,
    )


def address_change_send(*, subscriber: Subscriber, new_email: str, change_url: str) -> str:
    """The link that moves a reader's newsletters to `new_email`, sent to that address."""
    about = _reader_link(subscriber)
    context = {
        "subscriber": subscriber,
        "new_email": new_email,
        "change_url": _in_mail_language(change_url, about=about),
    }
    return email_send(
        template="address_change", to=new_email, context=context, reader=subscriber, about=about
    )


def address_changed_notice_send(*, subscriber: Subscriber, old_email: str) -> str:
    """A short notice to the address a reader left, in case it was not them."""
    context = {
        "subscriber": subscriber,
        "new_email_masked": email_mask(subscriber.email),
    }
    return email_send(
        template="address_changed",
        to=old_email,
        context=context,
        reader=subscriber,
        about=_reader_link(subscriber),
    )


def data_link_send(*, subscriber: Subscriber, purpose: tokens.DataPurpose, url: str) -> str:
    """The link that opens a reader's data (download or erasure), to their own address."""
    about = _reader_link(subscriber)
    context = {
        "subscriber": subscriber,
        "url": _in_mail_language(url, about=about),
        "lifetime": data_link_lifetime(),
    }
    return email_send(
        template=f"data_{purpose}",
        to=subscriber.email,
        context=context,
        reader=subscriber,
        about=about,
    )


def email_mask(email: str) -> str:
    """`ada@example.com` → `a••@example.com`: enough for the owner to recognise it, no more."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}{'•' * min(max(len(local) - 1, 2), 6)}@{domain}"
