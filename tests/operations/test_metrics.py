"""The infrastructure of /metrics: the token check and counters that never go down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.http import Http404, HttpRequest
from django.test import RequestFactory
from hypothesis import given
from hypothesis import strategies as st

from operations.metrics import HIGH_WATER_KEY, counters_never_lower, metrics_refusal
from operations.redis_client import redis_client

TOKEN = "a-metrics-token-of-some-length"


@pytest.fixture(autouse=True)
def _no_high_water() -> Iterator[None]:
    client = redis_client()
    client.delete(HIGH_WATER_KEY)
    yield
    client.delete(HIGH_WATER_KEY)


def test_a_counter_that_goes_back_is_held_where_it_was_until_it_passes_it() -> None:
    assert counters_never_lower({"sent": 10, "failed:bounced": 2}) == {
        "sent": 10,
        "failed:bounced": 2,
    }
    assert counters_never_lower({"sent": 9, "failed:bounced": 3}) == {
        "sent": 10,
        "failed:bounced": 3,
    }
    assert counters_never_lower({"sent": 12, "failed:bounced": 0}) == {
        "sent": 12,
        "failed:bounced": 3,
    }
    assert counters_never_lower({}) == {}


def test_without_redis_counters_go_out_as_counted(settings: Any) -> None:
    counters_never_lower({"sent": 10})
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    assert counters_never_lower({"sent": 4}) == {"sent": 4}


def _request(authorization: str | None) -> HttpRequest:
    headers = {} if authorization is None else {"Authorization": authorization}
    return RequestFactory().get("/metrics", headers=headers)


def test_metrics_are_off_without_a_token(settings: Any) -> None:
    settings.METRICS_TOKEN = None

    with pytest.raises(Http404):
        metrics_refusal(_request(f"Bearer {TOKEN}"))


@given(authorization=st.one_of(st.none(), st.text(max_size=80)))
def test_any_authorization_header_is_let_in_or_refused_with_401(
    authorization: str | None,
) -> None:
    from django.test import override_settings

    with override_settings(METRICS_TOKEN=TOKEN):
        refusal = metrics_refusal(_request(authorization))

    words = (authorization or "").split()
    is_right = len(words) == 2 and words[0].lower() == "bearer" and words[1] == TOKEN
    assert (refusal is None) == is_right
    if refusal is not None:
        assert refusal.status_code == 401


def test_the_token_is_read_after_bearer_in_any_case(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN

    assert metrics_refusal(_request(f"Bearer {TOKEN}")) is None
    assert metrics_refusal(_request(f"BEARER {TOKEN}")) is None
    refused = metrics_refusal(_request(f"Bearer {TOKEN[:-1]}"))
    assert refused is not None and refused.status_code == 401
