"""A user of each role (a staff user in the migration's group), and a client logged in as one."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.roles.helpers import AUDIENCE_MANAGER, EDITOR, PUBLISHER, VIEWER, role_user


@pytest.fixture
def viewer(db: None) -> User:
    return role_user(VIEWER)


@pytest.fixture
def editor(db: None) -> User:
    return role_user(EDITOR)


@pytest.fixture
def publisher(db: None) -> User:
    return role_user(PUBLISHER)


@pytest.fixture
def audience_manager(db: None) -> User:
    return role_user(AUDIENCE_MANAGER)


@pytest.fixture
def login(client: Client) -> Callable[[User], Client]:
    def logged_in(user: User) -> Client:
        client.force_login(user)
        return client

    return logged_in
