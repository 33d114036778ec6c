"""Creating a digest: the one way every creator (the API, admin's add form, recurring editions)
makes one, so the rules about what a new digest may hold are written once.

The rules: the subject and preheader are one line of plain text (control characters dropped,
capped at their column); the intro is cleaned as what it is written in (Markdown source, or the
simple HTML older digests kept); the stories are placed 1…n in the order given, each once, and
must all exist; no stories given means the featured ones the list has not had yet; a digest
asked to be scheduled is created only if it can be (the pre-send checks pass).

The audit trail stays with the adapters (admin's AuditedAdmin, the API's `_audit`): they know
who asked and from where, and a beat-made edition has no one to record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction

from mailinglist.models import MailingList
from newsletters import composing, scheduling
from newsletters.markdown import markdown_source_clean
from newsletters.models import Digest, DigestStory, EditionSchedule, Story
from newsletters.stories import html_clean, text_clean

# The Digest model's subject and preheader columns.
LINE_LIMIT = 200


class StoriesMissing(Exception):
    """Some of the stories asked for do not exist; nothing was created."""

    def __init__(self, missing: list[int]) -> None:
        super().__init__(f"No stories with id {', '.join(str(pk) for pk in missing)}.")
        self.missing = missing


def digest_intro_clean(*, raw: str | None, intro_format: str) -> str:
    """The intro as it may be stored: Markdown source, or allow-listed HTML for HTML intros."""
    if intro_format == Digest.IntroFormat.HTML:
        return html_clean(raw or "")
    return markdown_source_clean(raw or "")


def digest_create(
    *,
    mailing_list: MailingList,
    subject: str,
    preheader: str = "",
    intro: str = "",
    intro_format: str = Digest.IntroFormat.MARKDOWN,
    stories: Sequence[Story | int] | None = None,
    created_by: User | None = None,
    send_at: datetime | None = None,
    schedule: bool = False,
    schedule_zone: str = "",
    edition_of: EditionSchedule | None = None,
    edition_due_at: datetime | None = None,
) -> Digest:
    """A new draft digest with its stories in order — or, with `schedule`, scheduled for
    `send_at` — created whole or not at all.

    `stories` None fills it from the featured stories since the list's last issue; an empty
    sequence leaves it without stories (admin's inline adds them after). Raises StoriesMissing
    for ids that do not exist and, with `schedule`, scheduling.DigestNotReady (or
    DigestStateError) when it may not be scheduled yet: then nothing is created.
    """
    if schedule and send_at is None:
        raise ValueError("schedule needs send_at")
    wanted = None if stories is None else _story_ids(stories)
    with transaction.atomic():
        if wanted:
            found = set(Story.objects.filter(pk__in=wanted).values_list("pk", flat=True))
            missing = [pk for pk in wanted if pk not in found]
            if missing:
                raise StoriesMissing(missing)
        digest = Digest.objects.create(
            mailing_list=mailing_list,
            subject=text_clean(subject, limit=LINE_LIMIT),
            preheader=text_clean(preheader, limit=LINE_LIMIT),
            intro=digest_intro_clean(raw=intro, intro_format=intro_format),
            intro_format=intro_format,
            created_by=created_by,
            state=Digest.State.DRAFT,
            send_at=send_at,
            edition_of=edition_of,
            edition_due_at=edition_due_at,
        )
        if wanted is None:
            composing.digest_fill_from_featured(digest=digest)
        elif wanted:
            DigestStory.objects.bulk_create(
                DigestStory(digest=digest, story_id=pk, position=position)
                for position, pk in enumerate(wanted, start=1)
            )
        if schedule and send_at is not None:
            # Raising here leaves the atomic block: the digest and its stories go with it.
            digest = scheduling.digest_schedule(
                digest_id=digest.pk, send_at=send_at, by=created_by, zone=schedule_zone
            )
    return digest


def _story_ids(stories: Sequence[Story | int]) -> list[int]:
    # A story appears once in a digest (the digest_story_once constraint); its first place wins.
    return list(dict.fromkeys(s.pk if isinstance(s, Story) else int(s) for s in stories))
