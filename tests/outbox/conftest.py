from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.test import override_settings

from outbox.reading import _read_entry

OUTBOX_BACKEND = "outbox.backend.OutboxEmailBackend"


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Path]:
    """An empty outbox of this test's own, selected as the email backend."""
    # Summaries are cached by path; paths never repeat, but a test counting reads needs none.
    _read_entry.cache_clear()
    with override_settings(OUTBOX_DIR=tmp_path / "outbox", EMAIL_BACKEND=OUTBOX_BACKEND):
        yield tmp_path / "outbox"


@pytest.fixture
def staff_non_superuser(db: None) -> User:
    """Staff holding every model permission a role group could give, yet not a superuser."""
    user = User.objects.create_user(
        username="desk", email="desk@example.com", password="pw-for-tests-2", is_staff=True
    )
    user.user_permissions.set(Permission.objects.all())
    return user
