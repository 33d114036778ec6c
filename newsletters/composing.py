"""What goes into a digest when nobody picks the stories by hand: the featured stories since the
list's last issue, newest first, never one that already went out (or is about to) on that list.

A story is "taken" on a list once it is in a digest of that list that is scheduled, sending, paused
or sent: those went out or are going out, and a reader must never get the same story twice from
one list. Drafts do not count: they may never be sent, and an unapproved edition's stories should
carry over to the next one rather than be lost.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import DateTimeField, Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from mailinglist.models import MailingList
from newsletters.models import Digest, DigestStory, Story

State = Digest.State

# Digests whose stories readers of the list got, or are getting.
WENT_OUT = (State.SENDING, State.PAUSED, State.SENT)
# … plus those already promised to them: one story never sits in two upcoming issues of a list.
TAKEN = (State.SCHEDULED, *WENT_OUT)


class DigestLocked(Exception):
    """The digest is sending, paused, sent or cancelled: its stories can no longer change."""


def last_issue_at(*, mailing_list: MailingList) -> datetime | None:
    """When the list's most recent issue went out (sending, paused or sent); None if never."""
    # send_at first: it is when the issue was due to leave, so a story published while a large
    # list was still being sent counts as new for the next issue (the never-repeat rule keeps the
    # stories that were in it out). sent_at only for a digest that somehow has no send_at.
    at: datetime | None = Digest.objects.filter(
        mailing_list=mailing_list, state__in=WENT_OUT
    ).aggregate(at=Max(Coalesce("send_at", "sent_at", output_field=DateTimeField())))["at"]
    return at


def featured_stories_for(
    *,
    mailing_list: MailingList,
    since: datetime | None,
    limit: int,
    exclude_digest: Digest | None = None,
    featured_at: datetime | None = None,
) -> list[Story]:
    """Up to `limit` stories featured at `featured_at` (default now) and published at or after
    `since` (None: any time), newest first, none of them taken on the list.

    A story with no publication date counts from when it was entered. `exclude_digest`'s own
    stories are not counted as taken, so a scheduled digest can be refilled with them.
    """
    if limit <= 0:
        return []
    featured_at = featured_at or timezone.now()
    taken = DigestStory.objects.filter(digest__mailing_list=mailing_list, digest__state__in=TAKEN)
    if exclude_digest is not None and exclude_digest.pk is not None:
        taken = taken.exclude(digest=exclude_digest)
    stories = (
        Story.objects.filter(is_featured=True)
        .filter(Q(featured_until__isnull=True) | Q(featured_until__gt=featured_at))
        .annotate(
            published_or_created=Coalesce(
                "published_at", "created_at", output_field=DateTimeField()
            )
        )
        .exclude(pk__in=taken.values("story_id"))
    )
    if since is not None:
        # At or after: a story published in the same second as the last issue was not in it.
        stories = stories.filter(published_or_created__gte=since)
    return list(stories.order_by("-published_or_created", "-id")[:limit])


def digest_fill_from_featured(*, digest: Digest, limit: int = 10) -> int:
    """Replace the digest's stories with the featured ones since its list's last issue (positions
    1…n); returns how many. Nothing new leaves the digest as it was and returns 0.

    Raises DigestLocked unless the digest is a draft or scheduled, checked under a row lock so a
    beat tick that starts sending it at the same moment cannot be raced.
    """
    with transaction.atomic():
        # No select_related: FOR UPDATE would lock the joined mailing-list row as well.
        locked = Digest.objects.select_for_update().get(pk=digest.pk)
        if not locked.is_editable:
            raise DigestLocked(
                f"This digest is {locked.get_state_display().lower()}: "
                "only a draft or scheduled digest can be changed."
            )
        stories = featured_stories_for(
            mailing_list=locked.mailing_list,
            since=last_issue_at(mailing_list=locked.mailing_list),
            limit=limit,
            exclude_digest=locked,
        )
        if not stories:
            # Wiping an editor's hand-picked stories because nothing new came in would be a loss.
            return 0
        DigestStory.objects.filter(digest=locked).delete()
        DigestStory.objects.bulk_create(
            DigestStory(digest=locked, story=story, position=position)
            for position, story in enumerate(stories, start=1)
        )
        Digest.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
    return len(stories)
