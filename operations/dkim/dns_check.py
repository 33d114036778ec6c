"""Whether the DKIM record published in DNS is the one our key needs.

Asked from admin pages, so it must answer quickly and never fail the page: a DNS server that
does not answer within DNS_LIFETIME, no configured nameserver, or no network at all is
"unknown", not an error (the record may well be right). Malformed answers are logged and
treated as no record.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import dns.exception
import dns.resolver

logger = logging.getLogger(__name__)
Status = Literal["match", "mismatch", "missing", "unknown"]
DNS_LIFETIME = 2.0  # seconds for the whole lookup, retries included


def _default_resolver() -> Any:
    return dns.resolver.Resolver()  # reads /etc/resolv.conf; raises when there is none


def _tags(record: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in record.split(";"):
        name, equals, value = item.partition("=")
        if equals:
            # Whitespace may fold anywhere in a tag's value (RFC 6376 §3.2); it carries nothing.
            tags[name.strip().lower()] = "".join(value.split())
    return tags


def _published(answer: Any) -> list[str]:
    records = []
    for rdata in answer:
        try:
            # A long record is split into 255-byte strings; the receiver joins them unspaced.
            records.append(b"".join(rdata.strings).decode("ascii"))
        except (AttributeError, TypeError, UnicodeDecodeError) as error:
            logger.warning("DKIM check: ignored a malformed TXT answer (%s)", error)
    return records


def dkim_record_check(
    *, domain: str, selector: str, public_record: str, resolver: Any = None
) -> Status:
    """How DNS's TXT record at `<selector>._domainkey.<domain>` compares with `public_record`.

    "match" when one published record has the same key type and public key, "mismatch" when a
    DKIM record is there but with another key, "missing" when there is none, "unknown" when
    DNS could not be asked. Never raises.
    """
    name = f"{selector}._domainkey.{domain.rstrip('.')}"
    try:
        resolver = resolver or _default_resolver()
        answer = resolver.resolve(name, "TXT", lifetime=DNS_LIFETIME)
        records = _published(answer)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return "missing"
    except Exception as error:  # timeout, no nameservers, no network, a broken resolv.conf
        logger.info("DKIM check of %s: DNS did not answer (%s)", name, error)
        return "unknown"
    wanted = _tags(public_record)
    key = (wanted.get("k", "rsa"), wanted.get("p", ""))
    dkim_records = [_tags(record) for record in records]
    dkim_records = [tags for tags in dkim_records if "p" in tags]
    if not dkim_records:
        return "missing"
    if any((tags.get("k", "rsa").lower(), tags["p"]) == key for tags in dkim_records):
        return "match"
    return "mismatch"
