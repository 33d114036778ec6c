"""The translation catalogues: complete in every shipped language, and the check can fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from devtools import messages


def test_every_shipped_language_is_complete_and_compiled() -> None:
    assert messages.catalogue_problems() == []


@pytest.fixture
def locale_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "locale"
    shutil.copytree(messages.LOCALE_DIR, copy)
    return copy


def _edit_po(locale_dir: Path, language: str, msgid: str, **changes: object) -> None:
    path = messages.po_path(language, messages.DJANGO, locale_dir)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    message = catalog[msgid]
    assert message is not None
    for name, value in changes.items():
        if name == "fuzzy":
            message.flags.add("fuzzy")
        else:
            setattr(message, name, value)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, sort_output=True)


def test_an_untranslated_entry_is_reported(locale_copy: Path) -> None:
    _edit_po(locale_copy, "ar", "Email address", string="")
    problems = messages.catalogue_problems(locale_copy)
    assert any("'Email address' is not translated" in line for line in problems)
    # The .po no longer matches its compiled .mo either.
    assert any("ar/LC_MESSAGES/django.mo does not match" in line for line in problems)


def test_a_fuzzy_entry_is_reported(locale_copy: Path) -> None:
    _edit_po(locale_copy, "fr", "Email address", fuzzy=True)
    assert any(
        "'Email address' is marked fuzzy" in p for p in messages.catalogue_problems(locale_copy)
    )


def test_a_lost_placeholder_is_reported(locale_copy: Path) -> None:
    _edit_po(locale_copy, "es", "%(value)s is not one of our newsletters.", string="No es nuestro.")
    problems = messages.catalogue_problems(locale_copy)
    assert any(
        "%(value)s is not one of our newsletters." in p and "placeholders" in p for p in problems
    )


def test_a_missing_catalogue_is_reported(locale_copy: Path) -> None:
    messages.po_path("es", messages.DJANGOJS, locale_copy).unlink()
    assert any(
        "es/LC_MESSAGES/djangojs.po: missing" in p for p in messages.catalogue_problems(locale_copy)
    )


def test_staff_only_strings_may_stay_english() -> None:
    assert messages.is_staff_source("templates/admin/index.html")
    assert messages.is_staff_source("newsletters/admin/digests.py")
    assert messages.is_staff_source("mailinglist/admin/lists.py")
    assert not messages.is_staff_source("templates/mailinglist/subscribe.html")
    assert not messages.is_staff_source("mailinglist/forms.py")


def test_an_update_that_adds_an_untranslated_plural_leaves_the_check_passing(
    locale_copy: Path,
) -> None:
    # A new staff string with plural forms, not yet translated: Arabic has six forms, the merge
    # in memory has two. The compiled .mo must match the .po the check reads back at once.
    msgid = "%(count)d may have had it twice (a worker died mid-send)"
    path = messages.po_path("ar", messages.DJANGO, locale_copy)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="ar")
    catalog.delete(msgid)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, sort_output=True)
    assert any("not extracted yet" in p for p in messages.catalogue_problems(locale_copy))

    messages.catalogues_update(languages=("ar",), locale_dir=locale_copy)

    assert messages.catalogue_problems(locale_copy) == []
