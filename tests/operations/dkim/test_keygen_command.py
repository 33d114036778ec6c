"""`manage.py dkim_keygen`: a key file only the service reads, or a stored key; the record."""

from __future__ import annotations

import re
import stat
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from operations.dkim.keys import key_load
from operations.models import SigningKey


def _run(*args: str) -> str:
    out = StringIO()
    call_command("dkim_keygen", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("algorithm", "kind"), [([], "rsa"), (["--algorithm", "ed25519"], "ed25519")]
)
def test_out_writes_a_private_key_file_and_prints_the_record(
    tmp_path: Path, algorithm: list[str], kind: str
) -> None:
    path = tmp_path / "dkim.pem"

    printed = _run(
        "--domain", "news.example.com", "--selector", "nd1", "--out", str(path), *algorithm
    )

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = key_load(pem=path.read_bytes(), source=str(path))
    assert type(key).__name__.lower().lstrip("_").startswith(kind)
    assert "nd1._domainkey.news.example.com" in printed
    assert f"v=DKIM1; k={kind}; p=" in printed
    assert "PRIVATE KEY" not in printed


def test_out_never_overwrites_a_key(tmp_path: Path) -> None:
    path = tmp_path / "dkim.pem"
    path.write_text("the key DNS publishes")

    with pytest.raises(CommandError, match="refusing to overwrite"):
        _run("--domain", "news.example.com", "--selector", "nd1", "--out", str(path))

    assert path.read_text() == "the key DNS publishes"


@pytest.mark.django_db
def test_store_saves_a_signing_key_row() -> None:
    printed = _run("--domain", "Sport.Example.com", "--selector", "sp1", "--store")

    row = SigningKey.objects.get()
    assert (row.domain, row.selector, row.algorithm) == ("sport.example.com", "sp1", "rsa")
    key_load(pem=row.private_key_pem.encode(), source="row")
    assert "sp1._domainkey.sport.example.com" in printed


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--domain", "localhost", "--selector", "s1", "--store"], "not a domain name"),
        (["--domain", "news.example.com", "--selector", "a.b", "--store"], "not a selector"),
    ],
)
def test_bad_arguments_get_a_clear_error(args: list[str], says: str) -> None:
    with pytest.raises(CommandError, match=says):
        _run(*args)


def test_the_zone_file_line_splits_an_rsa_value_into_strings_a_txt_record_can_hold(
    tmp_path: Path,
) -> None:
    printed = _run(
        "--domain", "news.example.com", "--selector", "nd1", "--out", str(tmp_path / "k")
    )

    value = printed.splitlines()[2]
    zone = printed.splitlines()[-1]
    assert zone.startswith('nd1._domainkey.news.example.com. IN TXT ( "') and zone.endswith('" )')
    strings = re.findall(r'"([^"]*)"', zone)
    assert len(strings) == 2 and all(len(string) <= 255 for string in strings)
    assert "".join(strings) == value  # a receiver joins them back (RFC 6376 §3.6.2.2)
