from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from mailinglist.addresses import (
    COMMON_DOMAINS,
    UNDELIVERABLE_DOMAINS,
    email_hash,
    email_normalise,
    email_suggestion,
    name_clean,
)


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


# --- Addresses that can never receive mail ----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("reader@localhost", "needs a dot"),
        ("reader@LOCALHOST", "needs a dot"),
        ("reader@intranet", "needs a dot"),
        ("reader@gmail", "needs a dot"),
        ("reader@app.localhost", ".localhost"),
        ("reader@nowhere.invalid", ".invalid"),
        ("reader@printer.local", ".local"),
        ("reader@router.home.arpa", ".home.arpa"),
        ("reader@hidden.onion", ".onion"),
        ("reader@[192.0.2.1]", "not an IP address"),
    ],
)
def test_addresses_that_can_never_receive_mail_are_refused_with_the_reason(
    raw: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        email_normalise(raw)
    assert reason in refused.value.messages[0]


@pytest.mark.parametrize(
    "raw",
    [
        "reader@example.com",
        "reader@example.net",
        "reader@example.org",
        "reader@staging.example",
        "reader@newsroom.test",
        "reader@localhost.example.com",  # a label called localhost is not the localhost name
        "reader@invalid.example.org",
    ],
)
def test_rfc_2606_names_for_tests_and_staging_stay_accepted(raw: str) -> None:
    assert email_normalise(raw) == raw


_label = st.from_regex(r"[a-z]([a-z0-9-]{0,12}[a-z0-9])?", fullmatch=True)


@given(st.lists(_label, min_size=0, max_size=3), st.sampled_from(UNDELIVERABLE_DOMAINS))
def test_every_name_under_a_special_use_domain_is_refused(labels: list[str], reserved: str) -> None:
    with pytest.raises(ValidationError):
        email_normalise("reader@" + ".".join([*labels, reserved]))


@given(
    st.lists(_label, min_size=1, max_size=3), st.sampled_from(["test", "example", "example.com"])
)
def test_every_name_under_an_rfc_2606_domain_is_accepted(labels: list[str], reserved: str) -> None:
    address = "reader@" + ".".join([*labels, reserved])
    assert email_normalise(address) == address


@given(st.text(max_size=300))
def test_an_accepted_address_has_a_dotted_domain_outside_the_special_use_names(raw: str) -> None:
    try:
        stored = email_normalise(raw)
    except ValidationError:
        return
    domain = stored.rpartition("@")[2]
    assert "." in domain and not domain.startswith("[")
    assert not any(domain == d or domain.endswith("." + d) for d in UNDELIVERABLE_DOMAINS)


# --- "Did you mean …?" ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("reader@gmial.con", "reader@gmail.com"),
        ("reader@gmai.com", "reader@gmail.com"),
        ("Reader.Name+news@GMAIL.CON", "Reader.Name+news@gmail.com"),
        ("reader@hotmial.com", "reader@hotmail.com"),
        ("reader@yaho.com", "reader@yahoo.com"),
        ("reader@outlok.com", "reader@outlook.com"),
        ("reader@nytimes.con", "reader@nytimes.com"),
    ],
)
def test_common_domain_typos_get_a_suggestion(typed: str, suggested: str) -> None:
    assert email_suggestion(typed) == suggested


@pytest.mark.parametrize(
    "typed",
    [
        "reader@gmail.com",
        "reader@mail.com",  # a real provider one letter from gmail.com
        "reader@yahoo.de",  # a country variant, not a typo of yahoo.fr
        "reader@gmx.at",
        "reader@lemonde.fr",
        "reader@example.com",
        "no-at-sign",
        "@gmial.con",
    ],
)
def test_real_domains_and_non_addresses_get_no_suggestion(typed: str) -> None:
    assert email_suggestion(typed) is None


@given(st.emails())
def test_a_suggestion_keeps_the_local_part_and_names_a_common_or_fixed_domain(raw: str) -> None:
    suggested = email_suggestion(raw)
    if suggested is None:
        return
    assert suggested != raw
    assert suggested.rpartition("@")[0] == raw.strip().rpartition("@")[0]
    assert email_suggestion(suggested) is None  # following a suggestion never leads to another


@given(st.text(max_size=200))
def test_any_text_gets_none_or_a_suggestion_without_raising(raw: str) -> None:
    suggested = email_suggestion(raw)
    assert suggested is None or "@" in suggested


def test_the_browser_hint_carries_the_same_domains_as_the_server() -> None:
    import json
    import re
    from pathlib import Path

    from mailinglist.addresses import TLD_TYPOS

    script = (
        Path(__file__).resolve().parents[2] / "mailinglist/static/mailinglist/address_hint.js"
    ).read_text()
    domains = re.search(r"COMMON_DOMAINS = (\[.*?\]);", script, re.S)
    typos = re.search(r"TLD_TYPOS = (\{.*?\});", script, re.S)
    assert domains and typos
    assert tuple(json.loads(domains.group(1))) == COMMON_DOMAINS
    assert json.loads(typos.group(1)) == TLD_TYPOS
