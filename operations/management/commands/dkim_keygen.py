from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from operations.dkim.keygen import dkim_key_file_write, signing_key_create, signing_key_record
from operations.dkim.keys import ALGORITHMS, DkimKeyError


class Command(BaseCommand):
    help = (
        "Make a DKIM key (to a file for DKIM_PRIVATE_KEY_FILE, or stored for admin) and print the "
        "DNS TXT record to publish."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--domain", required=True, help="the From domain (or a parent)")
        parser.add_argument("--selector", required=True, help="a DNS label, e.g. newsdesk1")
        parser.add_argument(
            "--algorithm",
            choices=ALGORITHMS,
            default="rsa",
            help="rsa (RSA-2048, verified by every receiver; the default) or ed25519",
        )
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--out", type=Path, help="write the private key here (mode 0600)")
        where.add_argument("--store", action="store_true", help="store it as a signing key")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["store"]:
                record = signing_key_record(
                    signing_key=signing_key_create(
                        domain=options["domain"],
                        selector=options["selector"],
                        algorithm=options["algorithm"],
                    )
                )
            else:
                record = dkim_key_file_write(
                    domain=options["domain"],
                    selector=options["selector"],
                    algorithm=options["algorithm"],
                    path=options["out"],
                )
        except DkimKeyError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Publish this TXT record in DNS:\n{record.name}\n{record.value}\n\n"
            f"In a zone file:\n{record.zone_file_line()}"
        )
