"""Fixtures of the dashboard tests: no dashboard figures kept in Redis from another test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User

from tests.dashboard.builders import forget_dashboard_cache


@pytest.fixture(autouse=True)
def _no_kept_figures() -> Iterator[None]:
    forget_dashboard_cache()
    yield
    forget_dashboard_cache()


def _user_with(username: str, *perms: str) -> User:
    user = User.objects.create_user(username=username, password="pw-for-tests-1", is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return User.objects.get(pk=user.pk)  # a fresh instance: no stale permission cache


@pytest.fixture
def viewer(db: None) -> User:
    """Staff who may view everything the dashboard shows (the Viewer role's permissions)."""
    return _user_with(
        "viewer",
        "newsletters.view_digest",
        "newsletters.view_editionschedule",
        "mailinglist.view_mailinglist",
        "mailinglist.view_consentevent",
        "mailinglist.view_suppression",
        "mailinglist.view_subscriber",
    )


@pytest.fixture
def digest_only(db: None) -> User:
    """Staff who may view digests and nothing of the audience."""
    return _user_with("digests-only", "newsletters.view_digest")


@pytest.fixture
def audience_manager(db: None) -> User:
    return _user_with(
        "audience",
        "newsletters.view_digest",
        "mailinglist.view_subscriber",
        "mailinglist.export_subscribers",
    )
