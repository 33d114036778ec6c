"""`manage.py bounces_serve [--host 127.0.0.1] [--port 2525] [--smtp]`: the receiver a local MTA
hands bounce mail to over LMTP (or SMTP), until Ctrl-C or SIGTERM."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from newsletters.inbound.receiver import Receiver, ReceiverError, receiver_serve


class Command(BaseCommand):
    help = (
        "Receive bounce and complaint mail for BOUNCE_ADDRESS (and its +token variants) from "
        "a local MTA over LMTP (or SMTP with --smtp) and apply each message."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=2525, help="Port to listen on.")
        parser.add_argument(
            "--smtp", action="store_true", help="Speak SMTP instead of LMTP (RFC 2033)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 < options["port"] < 65536:
            raise CommandError("--port must be between 1 and 65535.")
        try:
            receiver_serve(
                host=options["host"],
                port=options["port"],
                is_smtp=options["smtp"],
                on_ready=self._ready,
            )
        except ReceiverError as error:
            raise CommandError(str(error)) from None
        self.stdout.write("Stopped.")

    def _ready(self, receiver: Receiver) -> None:
        local, _, domain = str(settings.BOUNCE_ADDRESS).partition("@")
        self.stdout.write(
            f"Receiving bounce mail for {local}@{domain} and {local}+*@{domain} over "
            f"{receiver.protocol} on {receiver.host}:{receiver.port}; Ctrl-C stops."
        )
        self.stdout.flush()
