"""One address rule for every way in: the form, the public API, staff adds and CSV imports."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from mailinglist import imports
from mailinglist.models import MailingList, SignupRequest, Subscriber
from operations.api_tokens import api_token_issue
from tests.factories import MailingListFactory
from tests.mailinglist.imports_helpers import NOTE

pytestmark = pytest.mark.django_db

NEVER_DELIVERED = [
    ("reader@localhost", "needs a dot"),
    ("reader@news.localhost", ".localhost"),
    ("reader@nowhere.invalid", ".invalid"),
]


def test_a_csv_import_reports_each_undeliverable_address_as_an_invalid_row_with_why(
    daily: MailingList,
) -> None:
    job = imports.import_job_create(
        mailing_list=daily,
        text="email\nada@example.com\nreader@localhost\nreader@news.localhost\n"
        "reader@nowhere.invalid\nstaging@newsroom.test\n",
        file_name="people.csv",
        is_consented=True,
        consent_note=NOTE,
    )

    imports.import_job_preview(job=job)

    assert (job.imported_count, job.invalid_count) == (2, 3)
    reported = {row["email"]: row["reason"] for row in job.errors}
    assert [row["line"] for row in job.errors] == [3, 4, 5]
    for address, reason in NEVER_DELIVERED:
        assert reason in reported[address]


@pytest.mark.parametrize(("address", "reason"), NEVER_DELIVERED)
def test_the_public_api_answers_400_json_with_the_reason(
    client: Client, address: str, reason: str
) -> None:
    MailingListFactory.create(slug="daily")

    response = client.post(
        "/api/v1/subscribe",
        {"email": address, "lists": ["daily"]},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert reason in " ".join(response.json()["errors"]["email"])
    assert not SignupRequest.objects.exists()


@pytest.mark.parametrize(("address", "reason"), NEVER_DELIVERED)
def test_a_staff_add_through_the_api_answers_400_json_with_the_reason(
    client: Client, staff_user: User, address: str, reason: str
) -> None:
    MailingListFactory.create(slug="daily")
    auth = {"Authorization": f"Bearer {api_token_issue(user=staff_user)}"}

    response = client.post(
        "/api/v1/subscribers",
        {"email": address, "lists": ["daily"], "consent": "Signed up at the book fair"},
        content_type="application/json",
        headers=auth,
    )

    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert not Subscriber.objects.exists()


def test_test_and_staging_addresses_are_still_signed_up(client: Client) -> None:
    MailingListFactory.create(slug="daily")

    response = client.post(
        "/api/v1/subscribe",
        {"email": "qa@staging.example.com", "lists": ["daily"]},
        content_type="application/json",
    )

    assert response.status_code == 202
    assert SignupRequest.objects.get().email == "qa@staging.example.com"
