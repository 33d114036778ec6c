"""Key loading says clearly what is wrong; records are in the RFC's shape; keys are aligned."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.db import DatabaseError, connection

from operations.dkim import selection
from operations.dkim.keygen import signing_key_create
from operations.dkim.keys import DkimKeyError, key_generate, key_load, key_pem
from operations.models import SigningKey
from tests.operations.dkim.keyring import key_made


def _pem(key: object, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_a_generated_key_loads_back(algorithm: str) -> None:
    key = key_generate(algorithm=algorithm)  # type: ignore[arg-type]

    loaded = key_load(pem=key_pem(key=key).encode(), source="test")

    assert type(loaded) is type(key)


@pytest.mark.parametrize(
    ("pem", "says"),
    [
        (b"not a key at all", "not a PEM private key"),
        (_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "1024 bits"),  # noqa: S505 - the weak key it refuses
        (_pem(ec.generate_private_key(ec.SECP256R1())), "RSA (>= 2048 bits) or Ed25519 only"),
        (_pem(key_generate(algorithm="ed25519"), b"secret"), "encrypted"),
    ],
)
def test_a_key_we_cannot_sign_with_is_refused_with_a_reason(pem: bytes, says: str) -> None:
    with pytest.raises(DkimKeyError) as refused:
        key_load(pem=pem, source="DKIM_PRIVATE_KEY_FILE")

    assert says in str(refused.value)
    assert str(refused.value).startswith("DKIM_PRIVATE_KEY_FILE: ")


def test_the_dns_records_follow_rfc_6376_and_8463(tmp_path: Path) -> None:
    rsa_key = key_made(tmp_path, algorithm="rsa", domain="News.Example.com.", selector="a1")
    ed_key = key_made(tmp_path, algorithm="ed25519", selector="e1")

    assert rsa_key.record.name == "a1._domainkey.news.example.com"
    assert rsa_key.record.value.startswith("v=DKIM1; k=rsa; p=")
    spki = base64.b64decode(rsa_key.record.value.split("p=")[1])
    assert serialization.load_der_public_key(spki).key_size == 2048  # type: ignore[union-attr]
    assert ed_key.record.value.startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(ed_key.record.value.split("p=")[1])) == 32


@pytest.mark.django_db
def test_keys_from_the_env_and_admin_are_chosen_by_relaxed_alignment(
    tmp_path: Path, settings: object
) -> None:
    made = key_made(tmp_path, algorithm="ed25519")
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = "news.example.com", "s1"  # type: ignore[attr-defined]
    settings.DKIM_PRIVATE_KEY_FILE = str(made.path)  # type: ignore[attr-defined]
    signing_key_create(domain="Sport.News.Example.com", selector="sp1", algorithm="rsa")
    signing_key_create(domain="other.org", selector="o1", algorithm="ed25519")

    found = {
        domain: (signer.domain, signer.selector)
        if (signer := selection.signer_for(domain))
        else None
        for domain in [
            "news.example.com",
            "alerts.news.example.com",
            "sport.news.example.com",
            "live.sport.news.example.com",
            "other.org",
            "example.com",
            "notnews.example.com",
            "mail.other.org.evil.com",
        ]
    }

    assert found == {
        "news.example.com": ("news.example.com", "s1"),
        "alerts.news.example.com": ("news.example.com", "s1"),
        "sport.news.example.com": ("sport.news.example.com", "sp1"),
        "live.sport.news.example.com": ("sport.news.example.com", "sp1"),
        "other.org": ("other.org", "o1"),
        "example.com": None,  # a parent of the key's domain is not aligned with it
        "notnews.example.com": None,
        "mail.other.org.evil.com": None,
    }


@pytest.mark.django_db
def test_a_message_from_an_unaligned_domain_goes_out_as_it_was(
    tmp_path: Path, settings: object
) -> None:
    made = key_made(tmp_path, algorithm="ed25519")
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = "news.example.com", "s1"  # type: ignore[attr-defined]
    settings.DKIM_PRIVATE_KEY_FILE = str(made.path)  # type: ignore[attr-defined]
    raw = b"From: someone@elsewhere.org\r\nSubject: x\r\n\r\nHi\r\n"

    assert selection.message_sign(raw=raw) == raw
    assert selection.message_sign(raw=b"Subject: no From\r\n\r\nHi\r\n").startswith(b"Subject")


@pytest.mark.django_db
def test_a_broken_env_key_is_logged_and_mail_still_goes_unsigned(
    tmp_path: Path, settings: object, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n")
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = "news.example.com", "s1"  # type: ignore[attr-defined]
    settings.DKIM_PRIVATE_KEY_FILE = str(bad)  # type: ignore[attr-defined]
    raw = b"From: desk@news.example.com\r\nSubject: x\r\n\r\nHi\r\n"

    assert selection.message_sign(raw=raw) == raw
    assert "DKIM_PRIVATE_KEY_FILE: not a PEM private key" in caplog.text


@pytest.mark.django_db
def test_keys_read_before_the_database_went_away_keep_signing_and_none_read_means_no_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signing_key_create(domain="news.example.com", selector="s1", algorithm="ed25519")
    assert selection.signer_for("news.example.com") is not None
    # The keys' table gone is a real DatabaseError from the real database (rolled back after).
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {SigningKey._meta.db_table} RENAME TO dkim_keys_away")
    monkeypatch.setattr(selection, "KEYS_TTL", 0.0)  # every message reads the rows again

    signer = selection.signer_for("news.example.com")  # the rows cannot be read: kept

    assert signer is not None and signer.selector == "s1"
    selection.signers_forget()
    with pytest.raises(DatabaseError):
        # Nothing read yet: the send fails (and is retried) rather than going out unsigned.
        selection.signer_for("news.example.com")
