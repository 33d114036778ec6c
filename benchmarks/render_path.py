"""Microseconds per recipient to produce final MIME bytes from a digest rendered once.

Three figures for a 10-story digest, each the median of repeated runs: `render_once`, the
once-per-digest step (templates, CSS inlined, message template; the first, cold render, which
also compiles the templates, is reported as `first_ms`); `mime_per_recipient`, the whole
per-recipient step (signing the unsubscribe and preference tokens, then joining the byte
segments); and `mime_join_per_recipient`, the join alone.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.report import figure, median


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=None, help="ignored (shared make bench flag)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("DEBUG", "on")
        os.environ.setdefault("DATABASE_URL", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from django.utils import timezone

        from mailinglist.models import MailingList, Subscriber
        from newsletters import rendering
        from newsletters.delivery import messages
        from newsletters.models import Digest, DigestStory, Story

        mailing_list = MailingList.objects.create(name="The Morning Briefing", slug="morning")
        digest = Digest.objects.create(mailing_list=mailing_list, subject="Bench", preheader="p")
        for n in range(10):
            story = Story.objects.create(
                headline=f"Story {n} " + "headline words " * 4,
                url=f"https://news.example.com/{n}",
                summary="<p>" + "A summary sentence of a typical length. " * 4 + "</p>",
                image_url=f"https://img.example.com/{n}.jpg",
                image_alt="An image",
                published_at=timezone.now(),
            )
            DigestStory.objects.create(digest=digest, story=story, position=n)
        # The first render also compiles the templates; a worker does that once per process.
        render_ms = []
        for _ in range(5):
            started = time.perf_counter()
            template = messages.message_template_build(
                digest_id=digest.pk,
                mailing_list=mailing_list,
                rendered=rendering.digest_render(digest=digest),
            )
            render_ms.append((time.perf_counter() - started) * 1000)
        readers = [
            Subscriber(
                pk=n, email=f"reader{n}@example.com", name=f"Reader {n}", public_id=f"pid{n:012d}"
            )
            for n in range(args.recipients)
        ]
        full, join = [], []
        size = 0
        for _ in range(5):
            t0 = time.perf_counter()
            values = [
                messages.recipient_values(
                    template=template, subscriber=r, mailing_list=mailing_list
                )
                for r in readers
            ]
            t1 = time.perf_counter()
            for value in values:
                size = len(messages.message_bytes(template=template, recipient=value))
            t2 = time.perf_counter()
            full.append((t2 - t0) / len(readers) * 1e6)
            join.append((t2 - t1) / len(readers) * 1e6)
    figure(
        "render_once",
        n=1,
        value=round(median(render_ms), 1),
        unit="ms",
        stories=10,
        first_ms=round(render_ms[0], 1),
        message_bytes=size,
        note="render + CSS inline + message template, once per digest; median of 5, first cold",
    )
    figure(
        "mime_per_recipient",
        n=args.recipients,
        value=round(median(full), 1),
        unit="us",
        message_bytes=size,
        runs=[round(value, 1) for value in full],
        note="tokens signed + segments joined; median of runs",
    )
    figure(
        "mime_join_per_recipient",
        n=args.recipients,
        value=round(median(join), 2),
        unit="us",
        message_bytes=size,
        runs=[round(value, 2) for value in join],
        note="segments joined only; median of runs",
    )


if __name__ == "__main__":
    main()
