from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives, get_connection
from django.test import Client, override_settings

from outbox.reading import outbox_entries, outbox_message

OUTBOX_BACKEND = "outbox.backend.OutboxEmailBackend"


@pytest.fixture
def outbox(tmp_path: Path):
    with override_settings(OUTBOX_DIR=tmp_path / "outbox", EMAIL_BACKEND=OUTBOX_BACKEND):
        yield tmp_path / "outbox"


def _send(subject: str = "Morning briefing", html: str = "<p>Hello <b>reader</b></p>") -> None:
    message = EmailMultiAlternatives(
        subject=subject,
        body="Hello reader",
        from_email="news@example.com",
        to=["reader@example.com"],
    )
    message.attach_alternative(html, "text/html")
    assert get_connection().send_messages([message]) == 1


def test_backend_keeps_each_message_as_one_complete_file(outbox: Path) -> None:
    _send("First")
    _send("Second")

    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 2
    assert not list(outbox.glob(".*"))  # no half-written files left behind
    entries, total = outbox_entries()
    assert total == 2
    assert [e.subject for e in entries] == ["Second", "First"]  # newest first


def test_reading_a_message_gives_its_parts_and_headers(outbox: Path) -> None:
    _send(html="<p>Hello <b>reader</b></p>")
    (entry,), _ = outbox_entries()

    message = outbox_message(key=entry.key)

    assert message is not None
    assert message.text == "Hello reader"
    assert message.html == "<p>Hello <b>reader</b></p>"
    assert ("To", "reader@example.com") in message.headers


@pytest.mark.parametrize(
    "key", ["../../etc/passwd", "..", "00000000000000000001-abcdefabcdef.eml", "x" * 40]
)
def test_only_names_the_backend_writes_can_be_read(outbox: Path, key: str) -> None:
    assert outbox_message(key=key) is None


@pytest.mark.django_db
def test_outbox_pages_are_for_staff_only(outbox: Path, client: Client) -> None:
    _send()

    response = client.get("/admin/outbox/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_staff_read_the_outbox_in_the_browser(
    outbox: Path, client: Client, staff_user: User
) -> None:
    _send(subject="Breaking <news>", html="<p onclick='x()'>Hi</p><script>alert(1)</script>")
    client.force_login(staff_user)
    (entry,), _ = outbox_entries()

    listing = client.get("/admin/outbox/")
    detail = client.get(f"/admin/outbox/{entry.key}/")
    html = client.get(f"/admin/outbox/{entry.key}/html/")
    missing = client.get("/admin/outbox/00000000000000000001-abcdefabcdef/")

    assert listing.status_code == 200
    assert b"Breaking &lt;news&gt;" in listing.content  # escaped, never raw
    assert detail.status_code == 200
    assert b'<pre id="text-part"' in detail.content
    assert b"sandbox" in detail.content
    # The mail's own HTML is served alone, sandboxed: its scripts cannot run as this site.
    assert html.status_code == 200
    assert html["Content-Security-Policy"].startswith("sandbox")
    assert missing.status_code == 404


@pytest.mark.django_db
def test_staff_can_empty_the_outbox(outbox: Path, client: Client, staff_user: User) -> None:
    _send()
    client.force_login(staff_user)

    assert client.get("/admin/outbox/clear/").status_code == 405  # a GET never deletes
    response = client.post("/admin/outbox/clear/", follow=True)

    assert response.status_code == 200
    assert b"Deleted 1 message(s)" in response.content
    assert outbox_entries() == ([], 0)
