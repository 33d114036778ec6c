"""The envelope's paths: a plain address takes a shortcut that must say what smtplib says."""

from __future__ import annotations

import smtplib

from hypothesis import given
from hypothesis import strategies as st

from operations.transport import smtp

_ATOM = st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+", fullmatch=True)
_PLAIN = st.builds(
    lambda local, domain: f"{'.'.join(local)}@{'.'.join(domain)}",
    st.lists(_ATOM, min_size=1, max_size=3),
    st.lists(st.from_regex(r"[A-Za-z0-9-]+", fullmatch=True), min_size=1, max_size=3),
)


@given(_PLAIN)
def test_a_plain_address_is_quoted_as_smtplib_quotes_it(address: str) -> None:
    assert smtp.smtp_path(address) == smtplib.quoteaddr(address) == f"<{address}>"


@given(st.text(max_size=40))
def test_any_other_text_is_quoted_as_smtplib_quotes_it(text: str) -> None:
    assert smtp.smtp_path(text) == smtplib.quoteaddr(text)


def test_a_display_name_or_an_empty_sender_goes_through_smtplib() -> None:
    assert smtp.smtp_path('"The Briefing" <briefing@news.example>') == "<briefing@news.example>"
    assert smtp.smtp_path("") == "<>"
    assert smtp._envelope_commands(("", "ada@example.com")) == (
        b"MAIL FROM:<>\r\nRCPT TO:<ada@example.com>\r\nDATA\r\n"
    )
