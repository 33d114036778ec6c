"""DKIM keys: loading a PEM private key, generating one, and the DNS record that publishes it.

RSA of 2048 bits or more (RFC 8301 forbids signing with less than 1024 and receivers such as
Gmail treat under 2048 as weak) or Ed25519 (RFC 8463). The DNS record is what `manage.py
dkim_keygen` prints and the admin's signing-key page shows: `v=DKIM1; k=rsa; p=<base64 DER
SubjectPublicKeyInfo>` for RSA, `v=DKIM1; k=ed25519; p=<base64 of the raw 32-byte key>`.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from operations.dkim.signing import PrivateKey

Algorithm = Literal["rsa", "ed25519"]
ALGORITHMS: tuple[Algorithm, ...] = ("rsa", "ed25519")
RSA_MIN_BITS = 2048
RSA_BITS = 2048  # what receivers verify everywhere; 4096 does not fit one 255-byte TXT string
# A DNS label: what a selector and each part of a domain must be.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class DkimKeyError(ValueError):
    """A private key we cannot sign with; the message says why and what to do."""


@dataclass(frozen=True)
class DnsRecord:
    """The TXT record to publish: `name` (`<selector>._domainkey.<domain>`) and `value`."""

    name: str
    value: str

    def zone_file_line(self) -> str:
        """The record as a zone file writes it: a TXT string holds at most 255 characters
        (RFC 1035 §3.3), and an RSA key's value is longer, so it is split into several."""
        chunks = [self.value[start : start + 255] for start in range(0, len(self.value), 255)]
        return f"{self.name}. IN TXT ( " + " ".join(f'"{chunk}"' for chunk in chunks) + " )"


def domain_is_valid(domain: str) -> bool:
    """True for a domain name of two or more DNS labels (news.example.com)."""
    labels = domain.rstrip(".").split(".")
    return len(labels) >= 2 and all(_LABEL.match(label) for label in labels)


def selector_is_valid(selector: str) -> bool:
    """True for one DNS label, what a DKIM selector must be here."""
    return bool(_LABEL.match(selector))


def key_load(*, pem: bytes, source: str) -> PrivateKey:
    """The private key in `pem`; DkimKeyError naming `source` unless RSA >= 2048 bits or Ed25519."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise DkimKeyError(
            f"{source}: the private key is encrypted; DKIM needs it unencrypted (keep the file "
            "readable by the service only, mode 0600)."
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise DkimKeyError(
            f"{source}: not a PEM private key. Make one with `manage.py dkim_keygen`."
        ) from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < RSA_MIN_BITS:
            raise DkimKeyError(
                f"{source}: an RSA key of {key.key_size} bits; DKIM keys must have at least "
                f"{RSA_MIN_BITS} (receivers distrust shorter ones)."
            )
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise DkimKeyError(
        f"{source}: a {type(key).__name__.removeprefix('_')} key; DKIM signs with RSA "
        f"(>= {RSA_MIN_BITS} bits) or Ed25519 only."
    )


def key_generate(*, algorithm: Algorithm = "rsa") -> PrivateKey:
    """A new private key: RSA-2048 (verified by every receiver) or Ed25519 (RFC 8463)."""
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise DkimKeyError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")


def key_pem(*, key: PrivateKey) -> str:
    """The private key as unencrypted PKCS#8 PEM, what `key_load` reads back."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def dns_record(*, domain: str, selector: str, key: PrivateKey) -> DnsRecord:
    """The TXT record that publishes `key`'s public half for `selector` at `domain`."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        kind = "ed25519"
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    else:
        kind = "rsa"
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return DnsRecord(
        name=f"{selector}._domainkey.{domain.rstrip('.').lower()}",
        value=f"v=DKIM1; k={kind}; p={base64.b64encode(public).decode('ascii')}",
    )
