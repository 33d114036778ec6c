"""The signup POST read without a Form (signup_fields.py) takes exactly the Form's answer.

Whatever a browser or a script sends, the fast reading either returns what SignupForm's
cleaned_data would hold, or None (and the Form then answers with its errors). It never accepts
what the Form refuses, never cleans a value differently, and does take the ordinary valid POST,
or it would save nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.http import QueryDict
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from mailinglist import protection
from mailinglist.forms import SignupForm
from mailinglist.models import MailingList, SignupRequest, Subscription
from mailinglist.signup import Result, signup_attempt
from mailinglist.signup_fields import signup_fields_read
from tests.mailinglist.signup_form_helpers import human_token

OFFERED = (MailingList(slug="daily", name="Daily"), MailingList(slug="weekly", name="Weekly"))

# Text near every rule's edge: spaces around, NULs, control and invisible characters, lengths
# either side of each max_length, addresses good and bad.
_pieces = st.sampled_from(
    ["", " ", "\t", "\n", "\x00", "\u200b", "\xa0", "a", "Zoë", "@", ".", "example.com", "x" * 60]
)
_text = st.one_of(
    st.lists(_pieces, max_size=6).map("".join),
    st.text(max_size=40),
    st.integers(190, 1100).map(lambda n: "a" * n),
)
_email = st.one_of(
    _text,
    st.sampled_from(
        [
            "reader@example.com",
            "  Reader@Example.COM ",
            "reader@localhost",
            "reader@[192.0.2.1]",
            "read er@example.com",
            "reader@bücher.example",
            "x" * 65 + "@example.com",
            "reader@" + "d" * 250 + ".com",
            "reader@exa_mple.com",
        ]
    ),
)
_slug = st.sampled_from(["daily", "weekly", "monthly", "", "DAILY", " daily"])
_missing = st.just(None)  # the key is not in the POST at all
# Mostly what a browser sends, so that most examples get past the address and the lists and
# every other field's rules are put to the test; now and then anything.
_good_email = st.sampled_from(["reader@example.com", " Ada@Example.ORG ", "zoë@bücher.example"])
_good_lists = st.lists(st.sampled_from(["daily", "weekly"]), min_size=1, max_size=3)


def _mostly(good: st.SearchStrategy[Any], anything: st.SearchStrategy[Any]) -> Any:
    return st.one_of(good, good, good, anything)


def _query_dict(values: dict[str, Any]) -> QueryDict:
    data = QueryDict(mutable=True)
    for name, value in values.items():
        if value is not None:
            data.setlist(name, value if isinstance(value, list) else [value])
    return data


_posts = st.fixed_dictionaries(
    {
        "email": _mostly(
            _good_email, st.one_of(_missing, _email, st.lists(_email, min_size=2, max_size=2))
        ),
        "name": st.one_of(_missing, _text),
        "lists": _mostly(_good_lists, st.one_of(_missing, st.lists(_slug, max_size=3))),
        "website": st.one_of(_missing, _text),
        "form_token": st.one_of(_missing, _text),
        "step_token": st.one_of(_missing, _text),
    }
)


def _form_answer(data: Any) -> dict[str, Any] | None:
    form = SignupForm(data=data, available=list(OFFERED))
    return form.cleaned_data if form.is_valid() else None


def _fast_answer(data: Any) -> dict[str, Any] | None:
    return signup_fields_read(data, offered={m.slug for m in OFFERED})


@examples(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(_posts)
def test_a_form_post_read_fast_gets_the_forms_cleaned_data_or_is_left_to_the_form(
    values: dict[str, Any],
) -> None:
    data = _query_dict(values)
    fast = _fast_answer(data)
    if fast is not None:
        assert fast == _form_answer(data)


@examples(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {
            "email": _mostly(_good_email, _email),
            "name": st.one_of(st.none(), _text, st.integers()),
            "lists": _mostly(
                _good_lists, st.one_of(st.lists(_slug, max_size=3), _slug, st.lists(st.integers()))
            ),
            "website": st.one_of(st.none(), _text),
            "form_token": st.one_of(st.none(), _text),
        }
    )
)
def test_an_api_payload_read_fast_gets_the_forms_cleaned_data_or_is_left_to_the_form(
    payload: dict[str, Any],
) -> None:
    fast = _fast_answer(payload)
    if fast is not None:
        assert fast == _form_answer(payload)


@given(
    email=st.sampled_from(["reader@example.com", " Reader@Bücher.Example ", "a.b+c@news.test"]),
    name=st.sampled_from(["", "  Ada   Lovelace ", "Zoë\u200b", None]),
    lists=st.lists(st.sampled_from(["daily", "weekly"]), min_size=1, max_size=3),
)
def test_an_ordinary_valid_post_is_read_fast(
    email: str, name: str | None, lists: list[str]
) -> None:
    data = _query_dict({"email": email, "name": name, "lists": lists, "form_token": "t"})
    fast = _fast_answer(data)
    assert fast is not None
    assert fast == _form_answer(data)


@pytest.mark.django_db
def test_a_valid_signup_is_stored_without_a_form_and_a_wrong_one_gets_the_forms_errors(
    rf: RequestFactory, client: Client
) -> None:
    MailingList.objects.create(slug="daily", name="Daily", is_public=True)
    good = {"email": " Reader@Example.COM", "lists": ["daily"], "form_token": human_token()}
    request = rf.post("/subscribe/", good, REMOTE_ADDR="203.0.113.5")

    outcome = signup_attempt(request=request, data=request.POST, source=Subscription.Source.FORM)

    assert (outcome.result, outcome.form) == (Result.ACCEPTED, None)
    assert SignupRequest.objects.get().email == "Reader@example.com"

    wrong = client.post("/subscribe/", {**good, "lists": ["daily", "nope"]})
    assert wrong.status_code == 400
    assert b"nope is not one of our newsletters." in wrong.content
    assert SignupRequest.objects.count() == 1


@pytest.mark.django_db
def test_a_fast_form_is_asked_for_one_more_step_with_what_it_sent(client: Client) -> None:
    MailingList.objects.create(slug="daily", name="Daily", is_public=True)
    fresh = protection.form_token_make()  # rendered a moment ago: maybe autofill, maybe a script

    step = client.post(
        "/subscribe/",
        {"email": "a@example.com", "name": " Ada ", "lists": "daily", "form_token": fresh},
    )

    assert step.status_code == 200
    assert step.context["email"] == "a@example.com"
    assert step.context["name"] == "Ada"
    assert [m.slug for m in step.context["lists"]] == ["daily"]
    assert not SignupRequest.objects.exists()
