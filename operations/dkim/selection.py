"""Which key signs a message: the one aligned with its From domain, from the env or from admin.

A key is aligned (DMARC relaxed alignment, RFC 7489 §3.1.1) when its domain is the From
domain or a parent of it: a key for news.example.com signs mail from news.example.com and
from alerts.news.example.com. The most specific key wins. Keys come from DKIM_DOMAIN /
DKIM_SELECTOR / DKIM_PRIVATE_KEY_FILE and from `SigningKey` rows (a list with a From domain
of its own); a row for the same domain wins over the env key.

Every message asks, so the keys are held per process and read again at most once a minute
(KEYS_TTL): a key added or deleted in admin reaches every worker within a minute, without a
query per message.
"""

from __future__ import annotations

import logging
import threading
import time
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError
from django.dispatch import receiver

from operations.dkim.keys import DkimKeyError, key_load
from operations.dkim.signing import DkimSigner, header_value, message_split

logger = logging.getLogger(__name__)
KEYS_TTL = 60.0
_lock = threading.Lock()
_state: dict[str, Any] = {"signers": None, "loaded_at": 0.0}
# Parsed keys by (domain, selector, PEM): a reload once a minute re-reads rows, not re-parses.
_parsed: dict[tuple[str, str, bytes], DkimSigner] = {}


def address_domain(address: str) -> str:
    """The domain of an address or From value (`"News" <a@news.example.com>`), lower case."""
    return parseaddr(address)[1].rpartition("@")[2].strip().rstrip(".").lower()


def _signer(domain: str, selector: str, pem: bytes, source: str) -> DkimSigner | None:
    cached = _parsed.get((domain, selector, pem))
    if cached is not None:
        return cached
    try:
        key = key_load(pem=pem, source=source)
    except DkimKeyError as error:
        # Mail still goes out (unsigned) rather than every send failing; the log says why.
        logger.error("DKIM key not used: %s", error)
        return None
    signer = _parsed[(domain, selector, pem)] = DkimSigner(
        domain=domain, selector=selector, private_key=key
    )
    return signer


def _load() -> dict[str, DkimSigner]:
    from operations.models import SigningKey

    signers: dict[str, DkimSigner] = {}
    domain = str(getattr(settings, "DKIM_DOMAIN", "") or "").lower().rstrip(".")
    if domain:
        path = Path(str(settings.DKIM_PRIVATE_KEY_FILE))
        try:
            pem = path.read_bytes()
        except OSError as error:
            logger.error("DKIM key not used: DKIM_PRIVATE_KEY_FILE (%s): %s", path, error.strerror)
        else:
            signer = _signer(domain, str(settings.DKIM_SELECTOR), pem, "DKIM_PRIVATE_KEY_FILE")
            if signer is not None:
                signers[domain] = signer
    rows = SigningKey.objects.values_list("pk", "domain", "selector", "private_key_pem")
    for pk, row_domain, selector, pem_text in rows:
        signer = _signer(row_domain, selector, pem_text.encode(), f"signing key {pk}")
        if signer is not None:
            signers[signer.domain] = signer
    return signers


def _signers() -> dict[str, DkimSigner]:
    signers = _state["signers"]
    if signers is not None and time.monotonic() - _state["loaded_at"] < KEYS_TTL:
        return signers  # type: ignore[no-any-return]
    with _lock:
        try:
            signers = _load()
        except DatabaseError:
            if signers is None:
                raise  # never send unsigned what a key exists for: the send is retried
            # The keys read a minute ago still sign; the rows are read again after KEYS_TTL.
            logger.warning("DKIM keys not re-read (database unavailable); keeping the last ones")
        _state["signers"], _state["loaded_at"] = signers, time.monotonic()
    return signers  # type: ignore[no-any-return]


def signer_for(from_domain: str) -> DkimSigner | None:
    """The signer of the most specific key aligned with `from_domain`, or None if none is."""
    signers = _signers()
    if not signers:
        return None
    labels = from_domain.lower().rstrip(".").split(".")
    for start in range(len(labels) - 1):
        signer = signers.get(".".join(labels[start:]))
        if signer is not None:
            return signer
    return None


def message_sign(*, raw: bytes) -> bytes:
    """`raw` signed by the key aligned with its From header's domain; as it was if none is."""
    if not _signers():
        return raw  # no key anywhere: not even the header block is read
    split = message_split(raw)
    from_value = header_value(split[0], b"from")
    if from_value is None:
        return raw
    signer = signer_for(address_domain(from_value.decode("utf-8", "replace")))
    return raw if signer is None else signer.sign_split(raw, split)


def signers_forget() -> None:
    """Read the keys again at the next message (a key added or removed in this process)."""
    with _lock:
        _state["signers"], _state["loaded_at"] = None, 0.0


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("DKIM_"):
        signers_forget()
