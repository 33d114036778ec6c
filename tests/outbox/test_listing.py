"""The outbox list: fifty a page newest first, one search over addresses and subjects."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from outbox import reading
from outbox.reading import _read_entry, outbox_entries, outbox_message
from tests.outbox.mail import send, send_numbered


def _subjects(response: Any) -> list[str]:
    return [entry.subject for entry in response.context["page"].object_list]


def _briefings(*numbers: int) -> list[str]:
    return [f"Briefing {number:03d}" for number in numbers]


@pytest.fixture
def superuser_client(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)  # staff_user is a superuser
    return client


def test_pages_hold_fifty_newest_first(outbox: Path, superuser_client: Client) -> None:
    send_numbered(120)

    first = superuser_client.get("/admin/outbox/")
    second = superuser_client.get("/admin/outbox/?page=2")
    last = superuser_client.get("/admin/outbox/?page=3")

    assert _subjects(first) == _briefings(*range(119, 69, -1))
    assert _subjects(second) == _briefings(*range(69, 19, -1))
    assert _subjects(last) == _briefings(*range(19, -1, -1))
    page = first.content.decode()
    assert "120 messages, newest first." in page
    assert "Showing 1\N{EN DASH}50." in page
    assert 'href="?page=2" rel="next"' in page
    assert 'href="?page=3" aria-label="Page 3"' in page
    assert "Showing 101\N{EN DASH}120." in last.content.decode()
    assert 'rel="next"' not in last.content.decode()


def test_a_page_reads_only_its_own_messages_and_never_a_body(
    outbox: Path, superuser_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    send_numbered(120)
    _read_entry.cache_clear()
    header_blocks_read: list[bytes] = []
    real_header_block = reading._header_block

    def counting(data: bytes) -> bytes:
        header_blocks_read.append(data)
        return real_header_block(data)

    def no_bodies(path: Path) -> None:
        raise AssertionError(f"the list parsed a whole message: {path}")

    monkeypatch.setattr(reading, "_header_block", counting)
    monkeypatch.setattr(reading, "_parse", no_bodies)

    response = superuser_client.get("/admin/outbox/?page=2")

    assert response.status_code == 200
    assert len(header_blocks_read) == 50


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("reader007@example.com", [7]),  # a To address
        ("READER007@EXAMPLE.COM", [7]),  # in any case
        ("  reader007@example.com ", [7]),  # pasted with spaces around it
        ("briefing 06", range(69, 59, -1)),  # words of the subject, newest first
        ("reader05", range(59, 49, -1)),
        ("nobody@example.com", []),
    ],
)
def test_search_matches_to_addresses_and_subjects_in_any_case(
    outbox: Path, superuser_client: Client, query: str, expected: Sequence[int]
) -> None:
    send_numbered(70)

    response = superuser_client.get("/admin/outbox/", {"q": query})

    assert response.status_code == 200
    assert _subjects(response) == _briefings(*expected)
    if not expected:
        assert "No message matches “nobody@example.com”." in response.content.decode()


def test_search_matches_from_addresses_and_display_names(
    outbox: Path, superuser_client: Client
) -> None:
    send(subject="From the desk", from_email="Night Desk <desk@tidalpark.example>")
    send(subject="From the news", from_email="news@example.com")

    by_address = superuser_client.get("/admin/outbox/", {"q": "DESK@tidalpark"})
    by_name = superuser_client.get("/admin/outbox/", {"q": "night desk"})

    assert _subjects(by_address) == ["From the desk"]
    assert _subjects(by_name) == ["From the desk"]


def test_search_reads_encoded_subjects_and_names(outbox: Path, superuser_client: Client) -> None:
    long_subject = "Café society — " + " ".join(["a long subject line that mail folds"] * 4)
    send(subject=long_subject, from_email="Zoë Ångström <zoe@example.com>")
    send(subject="Plain")

    response = superuser_client.get("/admin/outbox/", {"q": "CAFÉ"})
    by_name = superuser_client.get("/admin/outbox/", {"q": "zoë ångström"})

    (entry,) = response.context["page"].object_list
    assert entry.subject == long_subject
    assert entry.sender == "Zoë Ångström <zoe@example.com>"
    assert _subjects(by_name) == [long_subject]
    # The list reads headers its own cheap way; the message page must say the same.
    message = outbox_message(key=entry.key)
    assert message is not None
    assert dict(message.headers)["Subject"] == entry.subject
    assert dict(message.headers)["From"] == entry.sender


def test_the_query_stays_across_pages(outbox: Path, superuser_client: Client) -> None:
    send_numbered(120)

    first = superuser_client.get("/admin/outbox/", {"q": "Briefing"})
    second = superuser_client.get("/admin/outbox/", {"q": "Briefing", "page": "2"})

    page = first.content.decode()
    assert 'href="?q=Briefing&amp;page=2" rel="next"' in page
    assert 'value="Briefing"' in page  # the box still shows what was searched
    assert "120 messages match “Briefing” (120 in the outbox" in page
    assert _subjects(second) == _briefings(*range(69, 19, -1))


@pytest.mark.parametrize(
    ("page_number", "expected_page"),
    [("abc", 1), ("", 1), ("1.5", 1), ("2", 2), ("3", 3), ("4", 3), ("99999999999999999999", 3)],
)
def test_a_page_number_that_is_no_page_still_shows_one(
    outbox: Path, superuser_client: Client, page_number: str, expected_page: int
) -> None:
    send_numbered(101)

    response = superuser_client.get("/admin/outbox/", {"page": page_number})

    assert response.status_code == 200
    assert response.context["page"].number == expected_page


@pytest.mark.parametrize("query", ["x" * 201, "reader\x00", "%" * 5000])
def test_an_unusable_query_says_so_and_lists_nothing(
    outbox: Path, superuser_client: Client, query: str
) -> None:
    send_numbered(3)

    response = superuser_client.get("/admin/outbox/", {"q": query, "page": "2"})

    assert response.status_code == 200
    assert list(response.context["page"].object_list) == []
    assert response.context["form"].errors
    assert "Nothing searched: correct the search above" in response.content.decode()


def test_an_empty_outbox_says_how_to_fill_it(outbox: Path, superuser_client: Client) -> None:
    response = superuser_client.get("/admin/outbox/", {"q": "reader", "page": "7"})

    assert response.status_code == 200
    assert 'id="outbox-empty"' in response.content.decode()


_raw_header_text = st.binary(max_size=200).map(lambda raw: re.sub(rb"[\r\n]", b" ", raw))


@settings(max_examples=200, deadline=None)
@given(subject=_raw_header_text, sender=_raw_header_text, query=st.text(max_size=30))
def test_any_header_bytes_are_listed_and_searched_without_error(
    subject: bytes, sender: bytes, query: str
) -> None:
    # Files in the folder may come from anywhere (an older version, a hand-made test message).
    with tempfile.TemporaryDirectory() as folder, override_settings(OUTBOX_DIR=folder):
        raw = b"Subject: " + subject + b"\r\nFrom: " + sender + b"\r\nTo: a@example.com\r\n\r\nbody"
        (Path(folder) / "00000000000000000001-abcdefabcdef.eml").write_bytes(raw)

        everything, total = outbox_entries()
        matching, _ = outbox_entries(query=query)

        (entry,) = everything
        assert total == 1
        assert entry.recipients == "a@example.com"
        entry.subject.encode("utf-8")  # printable on a page: no lone surrogates
        entry.sender.encode("utf-8")
        assert list(matching) in ([], [entry])
        if query.strip().casefold() in entry.subject.casefold():
            assert list(matching) == [entry]


def test_many_pages_link_the_ends_and_the_neighbours(
    outbox: Path, superuser_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("outbox.views.MESSAGES_PER_PAGE", 5)
    send_numbered(80)  # sixteen pages

    page = superuser_client.get("/admin/outbox/", {"page": "8"}).content.decode()

    pages = re.search(r'<nav class="paginator" id="outbox-pages".*?</nav>', page, re.DOTALL)
    assert pages is not None
    labels = re.findall(r">([^<>]+)</(?:a|span)>", pages.group(0))
    assert " ".join(label.strip() for label in labels) == (
        "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK} Newer 1 2 … 6 7 8 9 10 … 15 16 "
        "Older \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"
    )
