"""Keys made for a test, and dkimpy verifying against them with DNS replaced by the key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import dkim  # type: ignore[import-untyped]

from operations.dkim.keys import Algorithm, DnsRecord, dns_record, key_generate, key_pem
from operations.dkim.signing import PrivateKey


@dataclass(frozen=True)
class TestKey:
    key: PrivateKey
    record: DnsRecord
    path: Path


def key_made(
    tmp_path: Path, *, algorithm: Algorithm, domain: str = "news.example.com", selector: str = "s1"
) -> TestKey:
    key = key_generate(algorithm=algorithm)
    path = tmp_path / f"{algorithm}-{selector}.pem"
    path.write_text(key_pem(key=key))
    return TestKey(key=key, record=dns_record(domain=domain, selector=selector, key=key), path=path)


def verifies(raw: bytes, *records: DnsRecord) -> bool:
    """dkimpy's verdict on the first signature, DNS answered from `records` only."""
    published = {f"{record.name}.": record.value.encode() for record in records}

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes:
        text = name.decode() if isinstance(name, bytes) else name
        return published.get(text if text.endswith(".") else f"{text}.", b"")

    return bool(dkim.verify(raw, dnsfunc=dnsfunc))


def signed_names(raw: bytes) -> list[str]:
    """The h= list of the message's DKIM-Signature, as written."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    found = re.search(r"^DKIM-Signature:.*?\bh=([^;]+);", head, re.S | re.M)
    assert found, head[:500]
    return "".join(found.group(1).split()).split(":")
