"""Signed return paths: they round-trip, fit a local part, and nothing unsigned or forged reads."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from mailinglist import return_path
from mailinglist.return_path import Ref

pytestmark = pytest.mark.usefixtures("_bounce_address")


@pytest.fixture
def _bounce_address(settings: Any) -> None:
    settings.BOUNCE_ADDRESS = "bounces@news.example"


ids = st.integers(min_value=0, max_value=2**53)


@given(subscriber=ids, list_id=ids, digest=ids)
def test_every_address_reads_back_as_what_it_was_made_for(
    subscriber: int, list_id: int, digest: int
) -> None:
    address = return_path.bounce_address(
        subscriber_id=subscriber, digest_id=digest, list_id=list_id
    )
    local = address.partition("@")[0]
    assert len(local) <= 64  # RFC 5321's limit on a local part
    assert address.endswith("@news.example")
    expected = Ref("b" if digest else "t", subscriber, list_id, digest)
    assert return_path.signed_ref_read(address) == expected
    # Servers may change the case of a local part; the token still reads.
    assert return_path.signed_ref_read(address.upper()) == expected


def test_the_mailto_unsubscribe_is_a_signed_u_reference() -> None:
    uri = return_path.unsubscribe_mailto(subscriber_id=7, list_id=2, digest_id=31)
    assert uri.startswith("mailto:bounces+u") and uri.endswith("?subject=unsubscribe")
    address = uri.removeprefix("mailto:").partition("?")[0]
    assert return_path.signed_ref_read(address) == Ref("u", 7, 2, 31)


def test_a_changed_number_or_kind_is_refused() -> None:
    address = return_path.bounce_address(subscriber_id=7, digest_id=31, list_id=2)
    local, _, domain = address.partition("@")
    base, _, token = local.partition("+")
    kind, rest = token[0], token[1:]
    assert return_path.signed_ref_read(f"{base}+{kind}8{rest[1:]}@{domain}") is None
    assert return_path.signed_ref_read(f"{base}+u{rest}@{domain}") is None
    assert return_path.signed_ref_read("bounces@news.example") is None
    assert return_path.signed_ref_read("bounces+garbage@news.example") is None


def test_an_address_signed_with_an_old_key_still_reads_during_rotation() -> None:
    with override_settings(SECRET_KEY="old-key-" * 8):
        address = return_path.bounce_address(subscriber_id=3, digest_id=4)
    with override_settings(SECRET_KEY="new-key-" * 8, SECRET_KEY_FALLBACKS=["old-key-" * 8]):
        assert return_path.signed_ref_read(address) == Ref("b", 3, 0, 4)
    with override_settings(SECRET_KEY="new-key-" * 8, SECRET_KEY_FALLBACKS=[]):
        assert return_path.signed_ref_read(address) is None


@given(st.text(max_size=120))
def test_any_text_reads_as_none_or_a_ref_never_an_error(text: str) -> None:
    assert return_path.signed_ref_read(text) is None or isinstance(
        return_path.signed_ref_read(text), Ref
    )
