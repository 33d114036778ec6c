"""Staff users in the roles operations/migrations/0003_staff_roles.py ships as groups."""

from __future__ import annotations

import importlib
from typing import Any

from django.contrib.auth.models import Group, Permission, User

EDITOR, PUBLISHER, AUDIENCE_MANAGER, VIEWER = "Editor", "Publisher", "Audience manager", "Viewer"
ROLES = (EDITOR, PUBLISHER, AUDIENCE_MANAGER, VIEWER)
PASSWORD = "role-pw-for-tests-7"

_migration: Any = importlib.import_module("operations.migrations.0003_staff_roles")


def role_group(name: str) -> Group:
    """The role's group as the migration made it.

    A test on `transactional_db` (live server, real worker) empties every table when it ends, and
    the groups are rows that only the migration writes; for later tests they are put back from
    the migration's own lists, so every test gets the role the product ships.
    """
    group = Group.objects.filter(name=name).first()
    if group is not None:
        return group
    group = Group.objects.create(name=name)
    for perm in _migration.ROLES[name]:
        app_label, codename = perm.split(".")
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return group


def role_user(role: str, *, username: str | None = None) -> User:
    """A staff user (not a superuser) whose only rights are those of `role`'s group."""
    username = username or role.lower().replace(" ", "-")
    user = User.objects.create_user(
        username=username,
        email=f"{username}@newsroom.example",
        password=PASSWORD,
        is_staff=True,
    )
    user.groups.add(role_group(role))
    return user
