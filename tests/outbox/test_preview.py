"""The HTML part in its sandbox: links open in a new tab, scripts and forms never run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from outbox.reading import outbox_entries
from outbox.views import _open_links_in_new_tab
from tests.outbox.mail import send

BASE = '<base target="_blank">'


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            '<!DOCTYPE html><html><HEAD lang="en"><title>T</title></head><p>x</p></html>',
            f'<!DOCTYPE html><html><HEAD lang="en">{BASE}<title>T</title></head><p>x</p></html>',
        ),
        ("<head><base target=_self></head>", f"<head>{BASE}<base target=_self></head>"),
        (
            "<!doctype html>\n<p>Just a fragment</p>",
            f"<!doctype html>{BASE}\n<p>Just a fragment</p>",
        ),
        ("<header>Not a head</header>", f"{BASE}<header>Not a head</header>"),
        ("", BASE),
    ],
)
def test_the_first_base_in_the_document_opens_links_in_a_new_tab(html: str, expected: str) -> None:
    assert _open_links_in_new_tab(html) == expected


@given(st.text())
def test_the_mail_html_is_kept_whole_around_the_base(html: str) -> None:
    served = _open_links_in_new_tab(html)

    assert served.replace(BASE, "", 1) == html


@pytest.mark.django_db
def test_the_preview_may_open_popups_but_never_run_scripts_or_forms(
    outbox: Path, client: Client, staff_user: User
) -> None:
    send(html="<html><head></head><body><a href='https://example.com/'>Read</a></body></html>")
    client.force_login(staff_user)
    (entry,), _ = outbox_entries()

    detail = client.get(f"/admin/outbox/{entry.key}/").content.decode()
    served = client.get(f"/admin/outbox/{entry.key}/html/")

    (iframe_sandbox,) = re.findall(r'<iframe title="HTML part" sandbox="([^"]*)"', detail)
    directives = (
        part.strip().partition(" ") for part in served["Content-Security-Policy"].split(";")
    )
    csp = {name: value for name, _, value in directives}
    allowed = {"allow-popups", "allow-popups-to-escape-sandbox"}
    assert set(iframe_sandbox.split()) == allowed
    assert set(csp["sandbox"].split()) == allowed  # the same when the URL is opened directly
    assert csp["default-src"] == "'none'"
    assert csp["form-action"] == "'none'"
    assert served["Referrer-Policy"] == "no-referrer"
    assert served.content.decode() == (
        f"<html><head>{BASE}</head><body><a href='https://example.com/'>Read</a></body></html>"
    )
