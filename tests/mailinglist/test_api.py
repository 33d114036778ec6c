"""POST /api/v1/subscribe: same defences and answers as the form; hostile input never a 500."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailinglist.models import SignupRequest
from tests.factories import MailingListFactory

pytestmark = pytest.mark.django_db


def test_api_signup_is_stored_like_a_form_signup(client: Client) -> None:
    MailingListFactory.create(slug="daily")

    response = client.post(
        "/api/v1/subscribe",
        {"email": "Api@Example.com", "lists": ["daily"], "name": "Ada"},
        content_type="application/json",
    )

    assert response.status_code == 202
    assert response.json()["ok"] is True
    request = SignupRequest.objects.get()
    assert (request.email, request.source) == ("Api@example.com", "api")


def test_api_honeypot_is_a_silent_success(client: Client) -> None:
    MailingListFactory.create(slug="daily")

    response = client.post(
        "/api/v1/subscribe",
        {"email": "bot@example.com", "lists": ["daily"], "website": "x"},
        content_type="application/json",
    )

    assert response.status_code == 202
    assert not SignupRequest.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        '{"email": 5, "lists": ["daily"]}',
        '{"lists": ["daily"]}',
        '{"email": "a@example.com", "lists": "daily"}',
        '{"email": "a@example.com", "lists": ["nope"]}',
        '{"email": "a@example.com\\r\\nBcc: b@example.com", "lists": ["daily"]}',
    ],
)
def test_bad_payloads_get_json_with_a_reason(client: Client, body: str) -> None:
    MailingListFactory.create(slug="daily")

    response = client.post("/api/v1/subscribe", body, content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]
    assert not SignupRequest.objects.exists()


def test_cors_answers_allowed_origins_only(client: Client, settings) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://partner.example.org"]

    allowed = client.options(
        "/api/v1/subscribe",
        HTTP_ORIGIN="https://partner.example.org",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    other = client.options(
        "/api/v1/subscribe",
        HTTP_ORIGIN="https://evil.example.net",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    staff_endpoint = client.options(
        "/api/v1/openapi.json",
        HTTP_ORIGIN="https://partner.example.org",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
    )

    assert allowed["Access-Control-Allow-Origin"] == "https://partner.example.org"
    assert "Access-Control-Allow-Origin" not in other
    assert "Access-Control-Allow-Origin" not in staff_endpoint


def test_openapi_schema_documents_subscribe(client: Client) -> None:
    schema = client.get("/api/v1/openapi.json").json()

    assert "/api/v1/subscribe" in schema["paths"]


hostile_text = st.one_of(
    st.text(max_size=300),
    st.just("a" * 10_000 + "@example.com"),
    st.just("victim@example.com\r\nBcc: everyone@example.com"),
    st.just("nul\x00@example.com"),
    st.just("\u0440\u0430\u0443\u0440\u0430l@example.com"),  # Cyrillic look-alikes of "paypal"
    st.just("<script>alert(1)</script>"),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    email=json_values,
    lists=json_values,
    name=json_values,
    extra=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)
def test_hostile_api_input_never_errors_and_stores_nothing_invalid(
    client: Client, email, lists, name, extra
) -> None:
    MailingListFactory.create(slug="daily")
    body = {**extra, "email": email, "lists": lists, "name": name}

    response = client.post(
        "/api/v1/subscribe",
        json.dumps(body),
        content_type="application/json",
        REMOTE_ADDR=f"10.9.{len(str(body)) % 250}.1",
    )

    assert response.status_code in {202, 400, 429}
    assert response["Content-Type"].startswith("application/json")
    for request in SignupRequest.objects.all():
        assert (
            "\r" not in request.email and "\n" not in request.email and "\x00" not in request.email
        )
        assert len(request.email) <= 254
        assert len(request.name) <= 100


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    email=hostile_text,
    name=hostile_text,
    lists=st.lists(hostile_text, max_size=3),
    website=st.sampled_from(["", "x"]),
)
def test_hostile_form_input_never_errors_and_stores_nothing_invalid(
    client: Client, email, name, lists, website
) -> None:
    MailingListFactory.create(slug="daily")

    response = client.post(
        "/subscribe/",
        {"email": email, "name": name, "lists": lists, "website": website},
        REMOTE_ADDR="10.8.0.1",
    )

    # 200: the one-more-step page (no time token), which stores nothing.
    assert response.status_code in {200, 302, 400, 429}
    for request in SignupRequest.objects.all():
        assert "\r" not in request.email and "\n" not in request.email
        assert "<" not in request.email
        assert all(ch.isprintable() for ch in request.name)
