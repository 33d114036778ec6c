"""Fixtures shared by the mailinglist tests: a logged-in staff client and two mailing lists."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from mailinglist.models import MailingList
from tests.factories import MailingListFactory


@pytest.fixture
def staff(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    return client


@pytest.fixture
def daily(db: None) -> MailingList:
    return MailingListFactory.create(slug="daily", name="Daily")


@pytest.fixture
def weekly(db: None) -> MailingList:
    return MailingListFactory.create(slug="weekly", name="Weekly")
