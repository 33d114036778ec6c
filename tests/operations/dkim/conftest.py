from __future__ import annotations

from collections.abc import Iterator

import pytest

from operations.dkim.selection import signers_forget


@pytest.fixture(autouse=True)
def _keys_read_afresh() -> Iterator[None]:
    """Each test reads the keys its own settings and rows give, and leaves none cached."""
    signers_forget()
    yield
    signers_forget()
