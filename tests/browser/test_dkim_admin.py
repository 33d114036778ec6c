"""A superuser gives a list's own From domain a DKIM key in admin, from the list's page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dns.exception
import pytest
from django.contrib.auth.models import User

from operations.dkim import dns_check
from operations.dkim.keys import dns_record, key_load
from operations.dkim.selection import signers_forget
from operations.models import SigningKey
from tests.browser.staff import log_in, script_errors
from tests.factories import MailingListFactory

pytestmark = pytest.mark.browser
PASSWORD = "dkim-admin-pw-3"


class _NoDns:
    """The resolver of a machine whose DNS does not answer (CI has no network)."""

    def resolve(self, name: str, rdtype: str, lifetime: float) -> Any:
        raise dns.exception.Timeout()


@pytest.fixture(autouse=True)
def _keys_read_afresh() -> Iterator[None]:
    signers_forget()
    yield
    signers_forget()


def test_a_key_added_from_the_lists_page_shows_its_dns_record_and_status(
    page: Any, live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dns_check, "_default_resolver", _NoDns)
    User.objects.create_superuser(username="ops", email="ops@example.com", password=PASSWORD)
    mailing_list = MailingListFactory.create(
        name="Morning", slug="morning", from_email="briefing@morning.example.org"
    )
    errors = script_errors(page)
    list_path = f"mailinglist/mailinglist/{mailing_list.pk}/change/"
    log_in(page, live_server.url, username="ops", password=PASSWORD, next_path=list_path)
    assert "No DKIM key for morning.example.org" in page.content()

    with page.expect_navigation():
        page.get_by_role("link", name="Add a signing key for morning.example.org").click()
    assert page.get_by_label("Domain").input_value() == "morning.example.org"
    page.get_by_label("Selector").fill("nd1")
    page.get_by_label("Algorithm").select_option("ed25519")
    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()

    row = SigningKey.objects.get()
    assert page.url.endswith(f"/admin/operations/signingkey/{row.pk}/change/")
    key = key_load(pem=row.private_key_pem.encode(), source="row")
    record = dns_record(domain=row.domain, selector=row.selector, key=key)
    content = page.content()
    assert (row.domain, row.selector, row.algorithm) == ("morning.example.org", "nd1", "ed25519")
    assert record.name in content and record.value in content
    assert "Unknown: DNS did not answer" in content
    assert "PRIVATE KEY" not in content and row.private_key_pem[40:80] not in content

    page.goto(f"{live_server.url}/admin/mailinglist/mailinglist/{mailing_list.pk}/change/")
    assert "Mail from morning.example.org is signed" in page.content()
    assert errors == []
