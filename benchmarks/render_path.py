"""Microseconds per recipient to produce final MIME bytes from a digest rendered once.

Three figures for a 10-story digest, each the median of repeated runs: `render_once`, the
once-per-digest step (templates, CSS inlined, message template; the first, cold render, which
also compiles the templates, is reported as `first_ms`); `mime_per_recipient`, the whole
per-recipient step as the send loop runs it (the reader's signed links, then joining the byte
segments), without BOUNCE_ADDRESS; `mime_per_recipient_return_paths`, the same with
BOUNCE_ADDRESS set (adding the signed VERP envelope sender and List-Unsubscribe mailto:); and
`mime_join_per_recipient`, the join alone.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.report import figure, median


def _per_recipient(
    template: Any, readers: list[Any], mailing_list: Any
) -> tuple[list[float], list[float], list[float], int]:
    """Microseconds per reader, five runs: the whole step as the send loop runs it (wall clock,
    and the CPU time this process spent, which other processes on a busy machine disturb less),
    and the join alone."""
    from newsletters.delivery import messages

    full, cpu, join = [], [], []
    size = 0
    for _ in range(5):
        c0, t0 = time.process_time(), time.perf_counter()
        # As the send loop: the slot values and the envelope sender (Recipient.envelope_from).
        values = [messages.recipient_values(template=template, subscriber=r) for r in readers]
        t1 = time.perf_counter()
        for value in values:
            size = len(messages.message_bytes(template=template, recipient=value))
        t2, c2 = time.perf_counter(), time.process_time()
        full.append((t2 - t0) / len(readers) * 1e6)
        cpu.append((c2 - c0) / len(readers) * 1e6)
        join.append((t2 - t1) / len(readers) * 1e6)
    return full, cpu, join, size


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
        from django.test import override_settings

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
        full, cpu, join, size = _per_recipient(template, readers, mailing_list)
        with override_settings(BOUNCE_ADDRESS="bounces@news.example"):
            verp_template = messages.message_template_build(
                digest_id=digest.pk,
                mailing_list=mailing_list,
                rendered=rendering.digest_render(digest=digest),
            )
            verp, verp_cpu, _, verp_size = _per_recipient(verp_template, readers, mailing_list)
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
        cpu_us=round(median(cpu), 1),
        note="signed links + segments joined; median of runs (cpu_us: process CPU time)",
    )
    figure(
        "mime_per_recipient_return_paths",
        n=args.recipients,
        value=round(median(verp), 1),
        unit="us",
        message_bytes=verp_size,
        runs=[round(value, 1) for value in verp],
        cpu_us=round(median(verp_cpu), 1),
        note="BOUNCE_ADDRESS set: links + VERP envelope sender + mailto, joined; median of runs",
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
