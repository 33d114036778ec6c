from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from operations.api_tokens import api_token_issue


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
        self.stdout.write(api_token_issue(user=user))
