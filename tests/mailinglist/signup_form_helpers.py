"""What the signup form tests share: the list they sign up to, a fresh browser with no cookies,
a form token a person would send, and the partner site allowed to embed the form."""

from __future__ import annotations

import time

from django.test import Client

from mailinglist import protection
from mailinglist.models import MailingList
from tests.factories import MailingListFactory

PARTNER = "https://partner.example.org"


def signup_list() -> MailingList:
    """The list the form offers, ticked by default (the tests' `daily`, instead of conftest's)."""
    return MailingListFactory.create(
        slug="daily", name="The Morning Briefing", is_default_checked=True
    )


def human_token() -> str:
    # Rendered long enough ago that the time trap takes the submitter for a person.
    return protection.form_token_make(now=time.time() - 10)


def fresh_browser() -> Client:
    """A fresh browser: no cookies, and Django's CSRF check on as it is for real requests."""
    return Client(enforce_csrf_checks=True)
