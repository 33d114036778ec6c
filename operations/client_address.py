"""The reader's address: REMOTE_ADDR, or what our own proxies say it was.

Behind a load balancer every request's REMOTE_ADDR is the balancer's, and the per-IP signup limit
would lump all readers together. X-Forwarded-For carries the reader's address, but anyone can send
that header, so only what a proxy we trust (settings.TRUSTED_PROXIES, addresses or CIDRs) wrote is
believed. Each proxy appends the address it received the request from: read from the right, past
our own proxies, the first address that is not one of them is the reader's. Whatever a client
wrote to the left of that, or anywhere when REMOTE_ADDR is not a trusted proxy, changes nothing.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(request: HttpRequest) -> str | None:
    """The reader's address (None if the request has none); a forged X-Forwarded-For is ignored."""
    meta = getattr(request, "META", None)
    if not isinstance(meta, dict):
        return None
    peer = address_parse(meta.get("REMOTE_ADDR"))
    if peer is None:
        return None
    trusted = _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ())))
    if not _is_trusted(peer, trusted):
        return str(peer)
    reader = peer
    for hop in reversed(str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")):
        address = address_parse(hop)
        if address is None:
            # Not what a proxy writes: from here leftwards the header is the client's own text,
            # so the last address our proxies vouched for is the best we know.
            break
        reader = address
        if not _is_trusted(address, trusted):
            break
    return str(reader)


def address_parse(value: object) -> Address | None:
    """An IP address as proxies write it (with a port or an IPv6 zone, too), or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text, bracket, port = text[1:].partition("]")
        if not bracket or not (port == "" or _is_port(port.removeprefix(":"))):
            return None
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text, _, port = text.partition(":")
        if not _is_port(port):
            return None
    # A zone id (fe80::1%eth0) is valid in Python but not in PostgreSQL's inet column.
    text = text.partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A server listening on [::] sees IPv4 readers as ::ffff:a.b.c.d: one reader, one key.
        return address.ipv4_mapped
    return address


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit()


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    # Settings validated the entries at start-up (config.environment.read_networks); cached per
    # value so that tests overriding the setting are parsed once too.
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _is_trusted(address: Address, trusted: tuple[Network, ...]) -> bool:
    return any(address in network for network in trusted)
