"""Making DKIM keys: to a file for DKIM_PRIVATE_KEY_FILE, or to a `SigningKey` row for admin.

Both return the DNS record to publish; the private key itself is written once and never shown.
"""

from __future__ import annotations

import os
from pathlib import Path

from operations.dkim.keys import (
    Algorithm,
    DkimKeyError,
    DnsRecord,
    dns_record,
    domain_is_valid,
    key_generate,
    key_load,
    key_pem,
    selector_is_valid,
)
from operations.dkim.selection import signers_forget
from operations.models import SigningKey


def _checked(domain: str, selector: str) -> str:
    domain = domain.strip().rstrip(".").lower()
    if not domain_is_valid(domain):
        raise DkimKeyError(f"{domain!r} is not a domain name (news.example.com).")
    if not selector_is_valid(selector):
        raise DkimKeyError(
            f"{selector!r} is not a selector: one DNS label of letters, digits and '-'."
        )
    return domain


def dkim_key_file_write(
    *, domain: str, selector: str, algorithm: Algorithm, path: Path
) -> DnsRecord:
    """A new key written to `path` (mode 0600, never over an existing file); its DNS record."""
    domain = _checked(domain, selector)
    key = key_generate(algorithm=algorithm)
    try:
        # O_EXCL: an existing key may be the one DNS publishes; overwriting it would break mail.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise DkimKeyError(
            f"{path} exists; refusing to overwrite a key. Choose another path."
        ) from None
    except OSError as error:
        raise DkimKeyError(f"{path} cannot be written: {error.strerror}.") from None
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key_pem(key=key))
    return dns_record(domain=domain, selector=selector, key=key)


def signing_key_create(*, domain: str, selector: str, algorithm: Algorithm) -> SigningKey:
    """A new `SigningKey` row with a freshly generated key; used for the next message sent."""
    domain = _checked(domain, selector)
    if SigningKey.objects.filter(domain=domain).exists():
        raise DkimKeyError(
            f"{domain} already has a signing key; delete it first to replace it (publish the "
            "new record under a new selector before you do, so no mail goes out unverifiable)."
        )
    key = key_generate(algorithm=algorithm)
    row = SigningKey.objects.create(
        domain=domain, selector=selector, algorithm=algorithm, private_key_pem=key_pem(key=key)
    )
    signers_forget()
    return row


def signing_key_record(*, signing_key: SigningKey) -> DnsRecord:
    """The DNS record that publishes `signing_key`'s public half."""
    key = key_load(pem=signing_key.private_key_pem.encode(), source=str(signing_key))
    return dns_record(domain=signing_key.domain, selector=signing_key.selector, key=key)
