from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from demo.seeding import demo_data_load


class Command(BaseCommand):
    help = "Load the demo site's data (staff user, ...); running it again changes nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        login = demo_data_load()
        if login.password is not None:
            self.stdout.write(f"Staff login: {login.username} / {login.password}  (shown once)")
        else:
            self.stdout.write(
                f"Staff login: {login.username} (password shown when it was created; "
                f"reset it with: .venv/bin/python manage.py changepassword {login.username})"
            )
