"""Inbound mail tests: return paths switched on (BOUNCE_ADDRESS)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.newsletters.inbound.samples import BOUNCE_ADDRESS


@pytest.fixture(autouse=True)
def _return_paths(settings: Any) -> None:
    settings.BOUNCE_ADDRESS = BOUNCE_ADDRESS
    settings.BOUNCE_SOFT_LIMIT = 3
    settings.BOUNCE_SOFT_WINDOW_DAYS = 14
