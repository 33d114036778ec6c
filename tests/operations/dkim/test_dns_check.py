"""The published-record check answers match/mismatch/missing/unknown and never raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dns.exception
import dns.resolver
import pytest

from operations.dkim.dns_check import DNS_LIFETIME, dkim_record_check
from tests.operations.dkim.keyring import key_made


class _Txt:
    def __init__(self, *strings: bytes) -> None:
        self.strings = strings


class StubResolver:
    """Answers TXT lookups from a dict, or raises what a real resolver would."""

    def __init__(
        self, answers: dict[str, list[_Txt]] | None = None, error: Exception | None = None
    ):
        self.answers = answers or {}
        self.error = error
        self.asked: list[tuple[str, str, float]] = []

    def resolve(self, name: str, rdtype: str, lifetime: float) -> Any:
        self.asked.append((name, rdtype, lifetime))
        if self.error is not None:
            raise self.error
        if name not in self.answers:
            raise dns.resolver.NXDOMAIN()
        return self.answers[name]


def _split(value: str) -> _Txt:
    # As DNS holds a long record: 255-byte strings.
    data = value.encode()
    return _Txt(*(data[i : i + 255] for i in range(0, len(data), 255)))


@pytest.fixture
def rsa_key(tmp_path: Path) -> Any:
    return key_made(tmp_path, algorithm="rsa", selector="s1")


def _check(rsa_key: Any, resolver: StubResolver) -> str:
    return dkim_record_check(
        domain="news.example.com",
        selector="s1",
        public_record=rsa_key.record.value,
        resolver=resolver,
    )


def test_the_published_record_split_in_strings_matches(rsa_key: Any) -> None:
    refolded = rsa_key.record.value.replace("; p=", ";  p=").replace("k=rsa", "k=RSA")
    resolver = StubResolver({rsa_key.record.name: [_Txt(b"v=spf1 -all"), _split(refolded)]})

    assert _check(rsa_key, resolver) == "match"
    assert resolver.asked == [("s1._domainkey.news.example.com", "TXT", DNS_LIFETIME)]


def test_another_key_is_a_mismatch(rsa_key: Any, tmp_path: Path) -> None:
    other = key_made(tmp_path, algorithm="rsa", selector="other")
    resolver = StubResolver({rsa_key.record.name: [_split(other.record.value)]})

    assert _check(rsa_key, resolver) == "mismatch"


@pytest.mark.parametrize(
    "answers",
    [{}, {"s1._domainkey.news.example.com": [_Txt(b"v=spf1 -all"), _Txt(b"\xff\xfe")]}],
)
def test_no_record_or_no_dkim_record_is_missing(rsa_key: Any, answers: dict[str, Any]) -> None:
    assert _check(rsa_key, StubResolver(answers)) == "missing"
    assert _check(rsa_key, StubResolver(error=dns.resolver.NoAnswer())) == "missing"


@pytest.mark.parametrize(
    "error",
    [
        dns.exception.Timeout(),
        dns.resolver.NoNameservers(),
        dns.resolver.LifetimeTimeout(timeout=2.0, errors=[]),
        OSError("Network is unreachable"),
        RuntimeError("anything else"),
    ],
)
def test_an_unreachable_dns_is_unknown_and_never_raises(rsa_key: Any, error: Exception) -> None:
    assert _check(rsa_key, StubResolver(error=error)) == "unknown"
