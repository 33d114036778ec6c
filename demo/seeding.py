"""Demo data for `make run`: idempotent, so a second run changes nothing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.templatetags.static import static
from django.utils import timezone

from mailinglist.models import MailingList, Subscriber
from mailinglist.staff import subscriber_add_by_staff
from newsletters.models import Story

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


DEMO_STORIES = [
    (
        "Cities",
        "Harbour city votes to turn its old docks into a tidal park",
        "Councillors back a plan that lets the sea back in — and pays for itself, its backers say.",
        "Illustration: the harbour's old warehouses under a summer sun",
    ),
    (
        "Politics",
        "Budget talks stall over the cost of free school meals",
        "Ministers and councils trade figures as the deadline for next year's settlement nears.",
        "Illustration: council offices at dusk",
    ),
    (
        "Business",
        "The bakery chain that doubled in a year without a single advert",
        "How word of mouth, and a sourdough recipe from 1952, built a business of 80 shops.",
        "Illustration: a high street in the early morning",
    ),
    (
        "Science",
        "A quiet comet is putting on its best show in a century",
        "Look north-west an hour after sunset this week; binoculars help, patience more.",
        "Illustration: a comet crossing a starry sky",
    ),
    (
        "Culture",
        "The festival that moved into a car park, and sold out",
        "Organisers turned a multi-storey into five stages. Neighbours were won over by the jazz.",
        "Illustration: a city skyline under an orange sunset",
    ),
    (
        "Sport",
        "Promoted side keep their nerve to win the derby in added time",
        "A header from a 19-year-old substitute settled a game that had everything but goals.",
        "Illustration: floodlit towers beside the stadium",
    ),
    (
        "World",
        "Rivers return to a valley drained for forty years",
        "Engineers remove the last of three dams, and salmon are already swimming upstream.",
        "Illustration: a town by the river at golden hour",
    ),
    (
        "Opinion",
        "We built the high street for cars. Let's build it for people",
        "Every town that narrowed its road and widened its pavements now has fuller shops.",
        "Illustration: a quiet high street in the evening",
    ),
]
# The demo stories' pictures (demo/static/demo/stories/N.jpg), all drawn at this size.
DEMO_IMAGE_SIZE = (1200, 675)


# A few confirmed readers, so a demo digest goes to someone: their mail lands in the local outbox
# (example.com is reserved; it reaches no one even with a real EMAIL_URL).
DEMO_READERS = [
    ("amira.okafor@example.com", "Amira", ["morning-briefing", "weekend-reads"]),
    ("tom.lindqvist@example.com", "Tom", ["morning-briefing"]),
    ("noor.haddad@example.com", "Noor", ["morning-briefing", "weekend-reads"]),
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
    now = timezone.now()
    for n, (section, headline, summary, image_alt) in enumerate(DEMO_STORIES):
        Story.objects.get_or_create(
            url=f"https://news.example.com/demo/{n + 1}",
            defaults={
                "headline": headline,
                "summary": f"<p>{summary}</p>",
                # Served by this site, so the demo digest shows pictures with nothing external.
                "image_url": f"{settings.SITE_URL}{static(f'demo/stories/{n + 1}.jpg')}",
                "image_alt": image_alt,
                "image_width": DEMO_IMAGE_SIZE[0],
                "image_height": DEMO_IMAGE_SIZE[1],
                "section": section,
                "byline": "Daily Ledger staff",
                "published_at": now - timedelta(hours=2 * n + 1),
                "is_featured": True,
            },
        )
    for email, name, slugs in DEMO_READERS:
        # Once there, a demo reader is theirs to change (unsubscribe, erase): never re-added.
        if not Subscriber.objects.filter(email=email).exists():
            subscriber_add_by_staff(
                email=email,
                lists=list(MailingList.objects.filter(slug__in=slugs)),
                name=name,
                consent="Demo data loaded by make run",
                by="load_demo",
            )
    user_model = get_user_model()
    if user_model.objects.filter(username=DEMO_USERNAME).exists():
        return DemoLogin(username=DEMO_USERNAME, password=None)
    password = secrets.token_urlsafe(12)
    user_model.objects.create_superuser(username=DEMO_USERNAME, email=DEMO_EMAIL, password=password)
    return DemoLogin(username=DEMO_USERNAME, password=password)
