"""Staff endpoints of /api/v1/ with Bearer tokens."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from mailinglist import subscriptions
from mailinglist.models import ConsentEvent, Subscription
from operations.api_tokens import api_token_issue
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
State = Subscription.State


@pytest.fixture
def auth(staff_user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token_issue(user=staff_user)}"}


def test_staff_endpoints_need_a_valid_token(client: Client, staff_user: User) -> None:
    token = api_token_issue(user=staff_user)
    replaced = api_token_issue(user=staff_user)

    assert client.get("/api/v1/lists").status_code == 401
    assert client.get("/api/v1/lists", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    assert (
        client.get("/api/v1/lists", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    )  # replaced
    assert client.get("/api/v1/lists", HTTP_AUTHORIZATION=f"Bearer {replaced}").status_code == 200
    staff_user.is_staff = False
    staff_user.save()
    assert client.get("/api/v1/lists", HTTP_AUTHORIZATION=f"Bearer {replaced}").status_code == 401


def test_create_api_token_prints_only_the_token(
    client: Client, staff_user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("create_api_token", staff_user.username)
    printed = capsys.readouterr().out

    assert printed.count("\n") == 1
    token = printed.strip()
    assert client.get("/api/v1/lists", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_lists_with_active_subscriber_counts(client: Client, auth: dict[str, str]) -> None:
    daily = MailingListFactory.create(slug="daily", name="Daily")
    MailingListFactory.create(slug="weekly", name="Weekly")
    SubscriptionFactory.create(mailing_list=daily)
    SubscriptionFactory.create(mailing_list=daily)
    SubscriptionFactory.create(mailing_list=daily, state=State.PENDING)

    assert client.get("/api/v1/lists", headers=auth).json() == [
        {"slug": "daily", "name": "Daily", "subscriber_count": 2},
        {"slug": "weekly", "name": "Weekly", "subscriber_count": 0},
    ]


def test_subscriber_lookup_by_email(client: Client, auth: dict[str, str]) -> None:
    daily, weekly = (
        MailingListFactory.create(slug="daily"),
        MailingListFactory.create(slug="weekly"),
    )
    subscriber = SubscriberFactory.create(email="ada@example.com")
    SubscriptionFactory.create(subscriber=subscriber, mailing_list=daily)
    SubscriptionFactory.create(subscriber=subscriber, mailing_list=weekly, state=State.UNSUBSCRIBED)

    found = client.get("/api/v1/subscribers", {"email": "ADA@example.com"}, headers=auth)
    missing = client.get("/api/v1/subscribers", {"email": "nobody@example.com"}, headers=auth)
    invalid = client.get("/api/v1/subscribers", {"email": "not an address"}, headers=auth)

    assert found.json() == {
        "email": "ada@example.com",
        "state": "active",
        "lists": {"daily": "active", "weekly": "unsubscribed"},
    }
    assert missing.status_code == 404
    assert invalid.status_code == 400
    assert invalid.json()["detail"]


def test_staff_add_is_active_at_once_with_consent_recorded(
    client: Client, auth: dict[str, str]
) -> None:
    MailingListFactory.create(slug="daily")

    response = client.post(
        "/api/v1/subscribers",
        {
            "email": "Grace@Example.com",
            "lists": ["daily"],
            "name": "Grace",
            "consent": "Signed up at the 2026 book fair",
        },
        content_type="application/json",
        headers=auth,
    )

    assert response.status_code == 201
    assert response.json() == {
        "email": "Grace@example.com",
        "state": "active",
        "lists": {"daily": "active"},
    }
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.IMPORT)
    assert event.detail == {
        "consent": "Signed up at the 2026 book fair",
        "by": "staff",
        "via": "api",
    }


def test_staff_cannot_add_suppressed_or_override_an_unsubscribe(
    client: Client, auth: dict[str, str]
) -> None:
    daily = MailingListFactory.create(slug="daily")
    subscriptions.suppression_add(email="bounced@example.com", reason="bounced")
    SubscriptionFactory.create(
        subscriber=SubscriberFactory.create(email="left@example.com"),
        mailing_list=daily,
        state=State.UNSUBSCRIBED,
    )

    def add(email: str, **extra: object) -> Any:
        body = {"email": email, "lists": ["daily"], "consent": "said yes", **extra}
        return client.post(
            "/api/v1/subscribers", body, content_type="application/json", headers=auth
        )

    suppressed, left = add("bounced@example.com"), add("left@example.com")
    unknown_list, no_consent = (
        add("x@example.com", lists=["nope"]),
        add("x@example.com", consent="  "),
    )

    assert suppressed.status_code == 409
    assert "suppressed" in suppressed.json()["detail"]
    assert left.status_code == 409
    assert (
        Subscription.objects.get(subscriber__email="left@example.com").state == State.UNSUBSCRIBED
    )
    assert unknown_list.status_code == 400
    assert "nope" in unknown_list.json()["detail"]
    assert no_consent.status_code == 400


def test_staff_answers_are_in_english_whatever_the_client_s_language(
    client: Client, auth: dict[str, str]
) -> None:
    MailingListFactory.create(slug="daily")
    body = {"email": "not an address", "lists": ["daily"], "consent": "Form, 2026-01-05"}
    english = client.post(
        "/api/v1/subscribers", body, content_type="application/json", headers=auth
    )

    arabic = client.post(
        "/api/v1/subscribers",
        body,
        content_type="application/json",
        headers={**auth, "Accept-Language": "ar"},
    )
    # The address's error is shared with the reader's signup, which says it in Arabic.
    reader = client.post(
        "/api/v1/subscribe",
        {"email": "not an address"},
        content_type="application/json",
        headers={"Accept-Language": "ar"},
    )

    assert arabic.status_code == english.status_code == 400
    assert arabic.json()["detail"] == english.json()["detail"]
    assert arabic.headers["Content-Language"] == "en"
    assert reader.status_code == 400 and reader.headers["Content-Language"] == "ar"
    (said_to_reader,) = reader.json()["errors"]["email"]
    assert said_to_reader != english.json()["detail"]
    assert any("\u0600" <= char <= "\u06ff" for char in said_to_reader)  # Arabic script
