from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from audit.records import audit_record
from operations.api_tokens import api_token_issue
from operations.models import ApiToken


class Command(BaseCommand):
    help = "Create (or replace) USERNAME's API token and print only the token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        if not user.is_staff or not user.is_active:
            raise CommandError(
                f"{user.username!r} is not an active staff user; API tokens are for staff."
            )
        # No staff member is signed in here: the entry says which account on the machine ran it.
        # One transaction: a token nobody can account for is never issued.
        with transaction.atomic():
            token = api_token_issue(user=user)
            audit_record(
                action="token.issue",
                target=ApiToken.objects.get(user=user),
                detail={"user": user.username, "run_by": _os_user()},
                via="command",
            )
        self.stdout.write(token)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no name
        return ""
