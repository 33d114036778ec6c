"""Demo data for `make run`: idempotent, so a second run changes nothing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from mailinglist.models import MailingList

DEMO_USERNAME = "editor"
DEMO_EMAIL = "editor@localhost"
DEMO_LISTS = [
    {
        "slug": "morning-briefing",
        "name": "The Morning Briefing",
        "description": "The day's top stories before breakfast, every weekday at 6:30.",
        "is_default_checked": True,
    },
    {
        "slug": "weekend-reads",
        "name": "Weekend Reads",
        "description": "Our best long reads and culture picks, every Saturday.",
        "is_default_checked": False,
    },
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str | None  # only when this run created the user; it is never stored in clear


@transaction.atomic
def demo_data_load() -> DemoLogin:
    """Create what the demo needs that is missing, and leave everything that exists alone."""
    for fields in DEMO_LISTS:
        MailingList.objects.get_or_create(
            slug=fields["slug"],
            defaults={**fields, "from_name": "The Daily Ledger", "is_public": True},
        )
    user_model = get_user_model()
    if user_model.objects.filter(username=DEMO_USERNAME).exists():
        return DemoLogin(username=DEMO_USERNAME, password=None)
    password = secrets.token_urlsafe(12)
    user_model.objects.create_superuser(username=DEMO_USERNAME, email=DEMO_EMAIL, password=password)
    return DemoLogin(username=DEMO_USERNAME, password=password)
