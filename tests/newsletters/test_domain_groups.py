"""Receiving-domain groups: the providers' consumer domains by name, every other domain "other"."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import deliverability
from newsletters.delivery.domains import DOMAIN_GROUPS, domain_group


@pytest.mark.parametrize(
    ("email", "group"),
    [
        ("ann@gmail.com", "gmail"),
        ("Ann@GoogleMail.COM", "gmail"),
        ("ann@gmail.com.", "gmail"),  # a fully qualified domain's trailing dot
        ("ann@outlook.com", "outlook"),
        ("ann@outlook.fr", "outlook"),
        ("ann@hotmail.co.uk", "outlook"),
        ("ann@hotmail.com.br", "outlook"),
        ("ann@live.com", "outlook"),
        ("ann@live.com.au", "outlook"),
        ("ann@msn.com", "outlook"),
        ("ann@yahoo.com", "yahoo"),
        ("ann@yahoo.co.uk", "yahoo"),
        ("ann@ymail.com", "yahoo"),
        ("ann@rocketmail.com", "yahoo"),
        ("ann@aol.com", "yahoo"),
        ("ann@example.com", "other"),
        # A company's domain, even if Google or Microsoft host its mail: no MX lookup per reader.
        ("ann@newsroom.example.org", "other"),
        ("ann@live.example.org", "other"),
        ("ann@mail.gmail.com", "other"),
        ("ann@gmail.com.example.net", "other"),
        ("ann@notgmail.com", "other"),
        ("ann@yahoo.co.jp", "other"),  # another company's service, with its own limits
        ("no-at-sign", "other"),
        ("", "other"),
    ],
)
def test_an_address_belongs_to_its_providers_group(email: str, group: str) -> None:
    assert domain_group(email) == group


def test_the_groups_are_the_ones_domain_send_rates_accepts() -> None:
    assert DOMAIN_GROUPS == deliverability.DOMAIN_GROUPS


@given(st.text(max_size=80))
def test_any_string_falls_in_one_group(text: str) -> None:
    assert domain_group(text) in DOMAIN_GROUPS


@given(st.from_regex(r"[a-z0-9.]{1,20}@[a-z0-9-]{1,20}\.(com|org|net|io)", fullmatch=True))
def test_the_local_part_never_decides(email: str) -> None:
    domain = email.rpartition("@")[2]
    assert domain_group(email) == domain_group(f"someone.else@{domain}")
