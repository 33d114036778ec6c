"""`manage.py bounces_fetch`: one fetch of the bounce mailbox (BOUNCE_MAILBOX_URL), as beat's
tick does it every minute; prints one summary line, exits 1 when the mailbox is unset or the
run stopped on an error."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from newsletters.inbound.mailbox import mailbox_fetch


class Command(BaseCommand):
    help = (
        "Fetch bounce and complaint mail from BOUNCE_MAILBOX_URL (imaps:// or pop3s://) once, "
        "apply each message and remove it from the mailbox."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit", type=int, default=500, help="At most this many messages (default 500)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be 1 or more.")
        report = mailbox_fetch(limit=options["limit"])
        if not report.is_ok:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
