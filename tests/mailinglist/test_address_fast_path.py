"""The fast paths of email_normalise and name_clean (#12) answer exactly as the plain rules do.

email_normalise caches its per-domain work and skips the per-character scan for printable
ASCII; name_clean skips it too. These references are the functions as they were before, one
character and one validator call at a time: any input must get the same result or message.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from mailinglist import addresses
from mailinglist.addresses import MAX_EMAIL_LENGTH, MAX_LOCAL_PART_LENGTH, MAX_NAME_LENGTH


def _reference_normalise(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValidationError("Enter your email address.")
    if len(value) > MAX_EMAIL_LENGTH:
        raise ValidationError(f"That address is too long (at most {MAX_EMAIL_LENGTH} characters).")
    if any(unicodedata.category(ch)[0] in {"C", "Z"} for ch in value):
        raise ValidationError("An email address cannot contain spaces or control characters.")
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain:
        raise ValidationError("Enter a valid email address, like name@example.com.")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise ValidationError("The part before the @ is too long.")
    if domain.startswith("["):
        raise ValidationError("Use the domain name after the @, not an IP address.")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValidationError("The part after the @ is not a valid domain.") from None
    refusal = addresses._undeliverable_domain_reason(ascii_domain)
    if refusal:
        raise ValidationError(refusal)
    normalised = f"{local}@{ascii_domain}"
    if len(normalised) > MAX_EMAIL_LENGTH:
        raise ValidationError(f"That address is too long (at most {MAX_EMAIL_LENGTH} characters).")
    addresses._validator(normalised)
    return normalised


def _reference_name(raw: str) -> str:
    if not raw:
        return ""
    kept = "".join(" " if unicodedata.category(ch)[0] in {"C", "Z"} else ch for ch in raw)
    return " ".join(kept.split())[:MAX_NAME_LENGTH]


def _outcome(function: object, raw: str) -> tuple[str, str]:
    try:
        return "ok", function(raw)  # type: ignore[operator]
    except ValidationError as exc:
        return "refused", " ".join(exc.messages)


local_parts = st.one_of(
    st.from_regex(r"[A-Za-z0-9._%+'-]{1,70}", fullmatch=True),
    st.text(max_size=20),
    st.sampled_from(['"quoted"', "a..b", ".a", "a.", "ünï", "a b", "a\u200bb"]),
)
domains = st.one_of(
    st.sampled_from(
        [
            "example.com",
            "EXAMPLE.COM",
            "bücher.example",
            "xn--bcher-kva.example",
            "localhost",
            "host.local",
            "[192.0.2.1]",
            "exa_mple.com",
            "-bad.example",
            "a" * 64 + ".example",
            "a" * 250 + ".com",
            "ex ample.com",
            "example.com.",
            "例え.jp",
        ]
    ),
    st.text(max_size=20),
)
addresses_strategy = st.one_of(
    st.emails(),
    st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains),
    st.text(max_size=40),
)


@given(addresses_strategy)
def test_email_normalise_answers_as_the_plain_rules_do(raw: str) -> None:
    assert _outcome(addresses.email_normalise, raw) == _outcome(_reference_normalise, raw)


@given(st.one_of(st.text(max_size=120), st.text(alphabet=" \t\r\n\x00\x85\u2028ab=", max_size=30)))
def test_name_clean_answers_as_the_plain_rules_do(raw: str) -> None:
    assert addresses.name_clean(raw) == _reference_name(raw)
