"""The pre-send DKIM check warns about a From domain no key is aligned with, and never blocks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from newsletters import checks, scheduling
from newsletters.models import Digest
from operations.dkim.keygen import signing_key_create
from operations.dkim.selection import signers_forget
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keys_read_afresh() -> Iterator[None]:
    signers_forget()
    yield
    signers_forget()


def _dkim(digest: Digest) -> checks.Check:
    [check] = [c for c in checks.digest_checks(digest=digest) if c.name == "dkim"]
    return check


def test_a_list_sending_from_an_unsigned_domain_is_warned_but_still_scheduled(
    staff_user: User,
) -> None:
    digest = make_digest(stories=2)
    digest.mailing_list.from_email = "briefing@morning.example.org"
    digest.mailing_list.save()

    check = _dkim(digest)
    scheduled = scheduling.digest_schedule(
        digest_id=digest.pk, send_at=timezone.now() + timedelta(hours=1), by=staff_user
    )

    assert (check.ok, check.is_warning) == (False, True)
    assert "morning.example.org" in check.message and "OpenDKIM" in check.message
    assert checks.digest_problems(digest=digest) == []
    assert scheduled.state == Digest.State.SCHEDULED


def test_a_key_for_a_parent_domain_passes_the_check() -> None:
    digest = make_digest(stories=2)
    digest.mailing_list.from_email = "briefing@morning.example.org"
    digest.mailing_list.save()
    signing_key_create(domain="example.org", selector="nd1", algorithm="ed25519")

    check = _dkim(digest)

    assert check.ok and "example.org" in check.message


def test_the_digest_page_shows_the_warning_apart_from_failures(
    client: Client, staff_user: User, settings: object
) -> None:
    settings.DEFAULT_FROM_EMAIL = "Newsroom <newsletter@unsigned.example.net>"  # type: ignore[attr-defined]
    digest = make_digest(stories=2)
    client.force_login(staff_user)

    html = client.get(f"/admin/newsletters/digest/{digest.pk}/change/").content.decode()

    assert "<li class='warn'>⚠ No DKIM key aligned with unsigned.example.net" in html
    assert "<li class='fail'>" not in html
