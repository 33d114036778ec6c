from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.core import signing
from django.test import override_settings

from mailinglist import tokens


def _made_at(moment: float, make: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> str:
    # The clock is set back for the signing call only: the token carries its own timestamp.
    with monkeypatch.context() as patched:
        patched.setattr("django.core.signing.time.time", lambda: moment)
        return make()


def test_each_token_reads_back_what_it_was_made_for() -> None:
    confirm = tokens.confirm_token_make(public_id="abc", list_ids=[1, 2])
    unsubscribe = tokens.unsubscribe_token_make(public_id="abc", list_id=7)
    preferences = tokens.preferences_token_make(public_id="abc")

    assert tokens.confirm_token_read(confirm) == tokens.TokenData("abc", [1, 2])
    assert tokens.unsubscribe_token_read(unsubscribe) == tokens.TokenData("abc", [7])
    assert tokens.preferences_token_read(preferences) == tokens.TokenData("abc", [])


def test_a_token_for_one_purpose_is_refused_for_another() -> None:
    unsubscribe = tokens.unsubscribe_token_make(public_id="abc", list_id=7)
    with pytest.raises(tokens.TokenInvalid):
        tokens.confirm_token_read(unsubscribe)
    with pytest.raises(tokens.TokenInvalid):
        tokens.preferences_token_read(unsubscribe)


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: "x" + t,
        lambda t: t[: len(t) // 2],
        lambda t: "",
    ],
)
def test_tampered_tokens_are_refused(damage) -> None:
    token = tokens.confirm_token_make(public_id="abc", list_ids=[1])
    with pytest.raises(tokens.TokenInvalid):
        tokens.confirm_token_read(damage(token))


def test_confirmation_expires_after_a_week_and_says_whose_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = _made_at(
        time.time() - 8 * 86400,
        lambda: tokens.confirm_token_make(public_id="abc", list_ids=[3]),
        monkeypatch,
    )
    fresh = _made_at(
        time.time() - 6 * 86400,
        lambda: tokens.confirm_token_make(public_id="abc", list_ids=[3]),
        monkeypatch,
    )

    with pytest.raises(tokens.TokenExpired) as expired:
        tokens.confirm_token_read(old)
    assert (expired.value.public_id, expired.value.list_ids) == ("abc", [3])
    assert tokens.confirm_token_read(fresh).public_id == "abc"


def test_unsubscribe_links_keep_working_for_years(monkeypatch: pytest.MonkeyPatch) -> None:
    ancient = _made_at(
        time.time() - 5 * 365 * 86400,
        lambda: tokens.unsubscribe_token_make(public_id="abc", list_id=1),
        monkeypatch,
    )

    assert tokens.unsubscribe_token_read(ancient).public_id == "abc"


def test_preference_links_last_more_than_a_year(monkeypatch: pytest.MonkeyPatch) -> None:
    year_old = _made_at(
        time.time() - 400 * 86400,
        lambda: tokens.preferences_token_make(public_id="abc"),
        monkeypatch,
    )

    assert tokens.preferences_token_read(year_old).public_id == "abc"


@pytest.mark.parametrize(
    "salt", [tokens.CONFIRM_SALT, tokens.UNSUBSCRIBE_SALT, tokens.PREFERENCES_SALT]
)
def test_tokens_are_exactly_what_djangos_timestamp_signer_makes(
    salt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("time.time", lambda: 1_790_000_000.25)  # the same second for both
    for secret in ("one-key-for-this-test", "and-another-after-rotation"):
        with override_settings(SECRET_KEY=secret):
            fast = tokens._make(salt, "Zx-9_public", [3, 14])
            django_made = signing.TimestampSigner(salt=salt).sign_object(
                {"p": "Zx-9_public", "l": [3, 14]}, compress=False
            )
            assert fast == django_made
