"""Pages answer in the reader's language; a list's links open its pages in the list's language."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.utils import translation

from tests.factories import MailingListFactory

pytestmark = pytest.mark.django_db

LANGUAGES = [("ar", "rtl"), ("fr", "ltr"), ("es", "ltr"), ("en", "ltr")]


def _in(language: str, text: str) -> str:
    with translation.override(language):
        return translation.gettext(text)


@pytest.fixture(autouse=True)
def a_public_list() -> None:
    MailingListFactory.create(slug="daily", name="The Morning Briefing", is_public=True)


@pytest.mark.parametrize("path", ["/", "/subscribe/"])
@pytest.mark.parametrize(("language", "direction"), LANGUAGES)
def test_pages_answer_in_the_language_the_browser_asks_for(
    client: Client, path: str, language: str, direction: str
) -> None:
    response = client.get(path, HTTP_ACCEPT_LANGUAGE=f"{language};q=1, en;q=0.5")
    page = response.content.decode()
    assert response.status_code == 200
    assert f'<html lang="{language}" dir="{direction}">' in page
    assert response["Content-Language"] == language
    # A cache in front keeps one copy per language.
    assert "Accept-Language" in response["Vary"]
    # The footer form is in that language too: its label and its button.
    label, button = _in(language, "Email address"), _in(language, "Subscribe")
    if language != "en":
        assert (label, button) != ("Email address", "Subscribe")
    assert label in page
    assert button in page


def test_a_regional_variant_gets_its_language(client: Client) -> None:
    page = client.get("/subscribe/", HTTP_ACCEPT_LANGUAGE="fr-CA,fr;q=0.9").content.decode()
    assert '<html lang="fr" dir="ltr">' in page


def test_a_language_nobody_ships_falls_back_to_english(client: Client) -> None:
    page = client.get("/subscribe/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert '<html lang="en" dir="ltr">' in page


def test_a_link_from_a_lists_mail_wins_and_is_remembered(client: Client) -> None:
    response = client.get("/subscribe/?lang=ar", HTTP_ACCEPT_LANGUAGE="fr")
    assert '<html lang="ar" dir="rtl">' in response.content.decode()
    assert response.cookies["django_language"].value == "ar"
    # The answer depends on the cookie from now on, so a shared cache must not share it.
    assert "Cookie" in response["Vary"]
    # The next page (a form's POST, a redirect) has no ?lang= and keeps the language.
    later = client.get("/subscribe/", HTTP_ACCEPT_LANGUAGE="fr")
    assert '<html lang="ar" dir="rtl">' in later.content.decode()
    assert "Cookie" in later["Vary"]


@pytest.mark.parametrize("value", ["xx", "", "ar" * 20, "../ar"])
def test_a_lang_parameter_that_names_no_shipped_language_is_ignored(
    client: Client, value: str
) -> None:
    response = client.get("/subscribe/", {"lang": value}, HTTP_ACCEPT_LANGUAGE="es")
    assert '<html lang="es" dir="ltr">' in response.content.decode()
    assert "django_language" not in response.cookies


@pytest.mark.parametrize("language", ["ar", "fr", "es"])
def test_the_scripts_words_come_in_the_language_the_url_names(
    client: Client, language: str
) -> None:
    response = client.get(f"/jsi18n/{language}/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    found = re.search(r"const newcatalog = (\{.*?\});", response.content.decode(), re.S)
    assert found is not None
    catalogue = json.loads(found.group(1))
    # Every word the signup scripts show (djangojs.po), translated.
    for english in ("Sending…", "Yes, subscribe me", "Did you mean %(address)s?"):
        assert catalogue.get(english, english) != english


@pytest.mark.parametrize("language", ["xx", "AR", "fr-ca"])
def test_the_script_catalogue_of_an_unknown_language_is_not_found(
    client: Client, language: str
) -> None:
    assert client.get(f"/jsi18n/{language}/").status_code == 404
