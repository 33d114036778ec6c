from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from mailinglist.addresses import email_hash, email_normalise, name_clean


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Reader@Example.COM ", "Reader@example.com"),
        ("a.b+news@sub.example.org", "a.b+news@sub.example.org"),
        ("leser@bücher.de", "leser@xn--bcher-kva.de"),
        ("x@EXAMPLE.com", "x@example.com"),
        ("pasted@example.com\r\n", "pasted@example.com"),  # surrounding whitespace only
    ],
)
def test_addresses_are_stored_in_one_normal_form(raw: str, stored: str) -> None:
    assert email_normalise(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "no-at-sign",
        "two@@example.com",
        "reader@example.com\r\nBcc: victim@example.com",
        "read\x00er@example.com",
        "read er@example.com",
        "reader@exa mple.com",
        "reader\u200b@example.com",  # zero-width space
        "r\u0435ader@example.com",  # Cyrillic "ie" posing as "e": not a plain ASCII local part
        "a" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "x" * 10_000,
        "<script>@example.com",
        "reader@-example.com",
        "reader@example",
    ],
)
def test_bad_addresses_are_refused_with_a_message(raw: str) -> None:
    with pytest.raises(ValidationError) as refused:
        email_normalise(raw)
    assert refused.value.messages[0]


def test_the_hash_ignores_case() -> None:
    assert email_hash("Reader@Example.com") == email_hash("reader@example.com")
    assert len(email_hash("reader@example.com")) == 64


@given(st.text(max_size=400))
def test_whatever_comes_in_is_refused_or_a_single_line_address(raw: str) -> None:
    try:
        stored = email_normalise(raw)
    except ValidationError:
        return
    assert stored.isascii()
    assert "\r" not in stored and "\n" not in stored and "\x00" not in stored
    assert len(stored) <= 254
    assert stored.count("@") >= 1
    assert email_normalise(stored) == stored  # normal form is stable


@given(st.text(max_size=1000))
def test_names_are_one_clean_line_of_at_most_100_characters(raw: str) -> None:
    cleaned = name_clean(raw)
    assert len(cleaned) <= 100
    assert all(ch.isprintable() for ch in cleaned)
    assert cleaned == cleaned.strip()


def test_name_clean_keeps_markup_as_text_for_escaping_later() -> None:
    assert name_clean("<script>alert(1)</script>\r\nX") == "<script>alert(1)</script> X"
