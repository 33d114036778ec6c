"""client_ip: the reader's address through trusted proxies only; a forged header changes nothing."""

from __future__ import annotations

import ipaddress

import pytest
from django.http import HttpRequest
from django.test import RequestFactory, override_settings
from hypothesis import given
from hypothesis import strategies as st

from operations.client_address import address_parse, client_ip

PROXY = "10.0.0.2"
READER = "203.0.113.7"


def _request(remote_addr: str | None, forwarded_for: str | None = None) -> HttpRequest:
    request = RequestFactory().get("/")
    request.META.pop("REMOTE_ADDR", None)
    if remote_addr is not None:
        request.META["REMOTE_ADDR"] = remote_addr
    if forwarded_for is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return request


@override_settings(TRUSTED_PROXIES=[])
def test_without_trusted_proxies_the_peer_is_the_reader_whatever_the_header_says() -> None:
    assert client_ip(_request(READER)) == READER
    assert client_ip(_request(READER, "198.51.100.1")) == READER
    assert client_ip(_request(PROXY, READER)) == PROXY


@override_settings(TRUSTED_PROXIES=[PROXY])
def test_a_trusted_proxy_is_believed_about_its_own_peer() -> None:
    assert client_ip(_request(PROXY, READER)) == READER
    # The client wrote the left part; the proxy appended the address it saw.
    assert client_ip(_request(PROXY, f"1.2.3.4, {READER}")) == READER
    # Anyone else's header is their own text.
    assert client_ip(_request("198.51.100.9", READER)) == "198.51.100.9"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8", "2001:db8:1::/48"])
def test_a_chain_of_trusted_hops_in_cidr_ranges_is_walked_from_the_right() -> None:
    chain = f"6.6.6.6, {READER}, 10.1.2.3, 2001:db8:1::5"
    assert client_ip(_request("10.9.9.9", chain)) == READER
    assert client_ip(_request("2001:db8:1::1", f"2001:db8:2::77, {PROXY}")) == "2001:db8:2::77"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_without_an_untrusted_hop_the_furthest_trusted_one_is_the_answer() -> None:
    assert client_ip(_request(PROXY)) == PROXY  # a health check from the balancer itself
    assert client_ip(_request(PROXY, "")) == PROXY
    assert client_ip(_request(PROXY, "10.4.4.4, 10.3.3.3")) == "10.4.4.4"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        ("unknown", PROXY),
        ("not an address, 10.5.5.5", "10.5.5.5"),
        (f"{READER}, garbage, 10.5.5.5", "10.5.5.5"),  # nothing left of garbage is believed
        (f"garbage, {READER}", READER),
        (f" {READER} ,, ", PROXY),
        (f"{READER}:51234", READER),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:203.0.113.7", READER),
        ("x" * 10_000, PROXY),
    ],
)
def test_malformed_entries_stop_the_walk_safely(forwarded_for: str, expected: str) -> None:
    assert client_ip(_request(PROXY, forwarded_for)) == expected


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_an_ipv4_reader_seen_through_an_ipv6_socket_is_the_same_reader() -> None:
    assert client_ip(_request("::ffff:10.0.0.2", READER)) == READER
    assert client_ip(_request(f"::ffff:{READER}")) == READER


def test_a_request_without_an_address_has_none() -> None:
    assert client_ip(_request(None)) is None
    assert client_ip(_request("")) is None
    assert client_ip(_request("not-an-address")) is None
    assert client_ip(_request("fe80::1%eth0")) == "fe80::1"


def test_address_parse_takes_what_proxies_write_and_nothing_else() -> None:
    assert address_parse(" 192.0.2.1 ") == ipaddress.ip_address("192.0.2.1")
    assert address_parse("[::1]") == ipaddress.ip_address("::1")
    for junk in (
        "",
        "unknown",
        "_hidden",
        "192.0.2.1:80:80",
        "[::1",
        "[::1]x",
        "1.2.3.4:x",
        "1.2.3.4/32",
        None,
        7,
    ):
        assert address_parse(junk) is None


_ipv4 = st.ip_addresses(v=4).map(str)


def _not_ipv4_mapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # ::ffff:a.b.c.d is answered as a.b.c.d (tested above), not as written.
    return not (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped)


_ipv6 = st.ip_addresses(v=6).filter(_not_ipv4_mapped).map(str)
_hop = st.one_of(_ipv4, _ipv6, st.text(max_size=40))


@override_settings(TRUSTED_PROXIES=[])
@given(peer=st.one_of(_ipv4, _ipv6), hops=st.lists(_hop, max_size=8), raw=st.text(max_size=80))
def test_with_no_trusted_proxy_the_answer_is_always_the_peer(
    peer: str, hops: list[str], raw: str
) -> None:
    for forwarded_for in (", ".join(hops), raw):
        assert client_ip(_request(peer, forwarded_for)) == peer


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
@given(hops=st.lists(_hop, max_size=8), raw=st.text(max_size=80))
def test_an_untrusted_peer_cannot_change_its_address_by_any_header(
    hops: list[str], raw: str
) -> None:
    for forwarded_for in (", ".join(hops), raw):
        assert client_ip(_request(READER, forwarded_for)) == READER
