from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles import finders
from django.test import Client


def test_the_favicon_is_an_icon_that_exists(client: Client) -> None:
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == "/static/operations/favicon.svg"
    found = finders.find("operations/favicon.svg")
    assert found is not None
    assert Path(found).read_text(encoding="utf-8").startswith("<svg")
