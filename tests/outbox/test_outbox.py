from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from outbox.reading import outbox_entries, outbox_message
from tests.outbox.mail import send


def test_backend_keeps_each_message_as_one_complete_file(outbox: Path) -> None:
    send(subject="First")
    send(subject="Second")

    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 2
    assert not list(outbox.glob(".*"))  # no half-written files left behind
    entries, total = outbox_entries()
    assert total == 2
    assert [e.subject for e in entries] == ["Second", "First"]  # newest first


def test_reading_a_message_gives_its_parts_and_headers(outbox: Path) -> None:
    send(html="<p>Hello <b>reader</b></p>")
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


def _urls(outbox: Path) -> list[str]:
    send()
    (entry,), _ = outbox_entries()
    return [
        "/admin/outbox/",
        "/admin/outbox/?q=reader&page=2",
        f"/admin/outbox/{entry.key}/",
        f"/admin/outbox/{entry.key}/html/",
    ]


@pytest.mark.django_db
def test_anyone_not_logged_in_as_staff_goes_to_the_admin_login(
    outbox: Path, client: Client
) -> None:
    reader = User.objects.create_user(username="reader", password="pw-for-tests-3")
    urls = _urls(outbox)

    for user in (None, reader):
        if user is not None:
            client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/admin/login/?next=/admin/outbox/"), url


@pytest.mark.django_db
def test_staff_who_are_not_superusers_are_refused(
    outbox: Path, client: Client, staff_non_superuser: User
) -> None:
    client.force_login(staff_non_superuser)

    for url in _urls(outbox):
        assert client.get(url).status_code == 403, url
    assert client.post("/admin/outbox/clear/").status_code == 403
    assert outbox_entries()[1] == 1  # refused, so nothing was deleted


@pytest.mark.django_db
def test_superusers_read_the_outbox_in_the_browser(
    outbox: Path, client: Client, staff_user: User
) -> None:
    send(subject="Breaking <news>", html="<p onclick='x()'>Hi</p><script>alert(1)</script>")
    client.force_login(staff_user)  # a superuser
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
def test_superusers_can_empty_the_outbox(outbox: Path, client: Client, staff_user: User) -> None:
    send()
    client.force_login(staff_user)

    assert client.get("/admin/outbox/clear/").status_code == 405  # a GET never deletes
    response = client.post("/admin/outbox/clear/", follow=True)

    assert response.status_code == 200
    assert b"Deleted 1 message(s)" in response.content
    entries, total = outbox_entries()
    assert (list(entries), total) == ([], 0)
