"""Content and what is made of it: stories, feeds, digests, and recurring editions.

Fields, states, constraints and cheap properties only; the rules live in stories.py, feeds.py,
composing.py, editions.py, rendering.py and scheduling.py.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from mailinglist.models import MailingList
from newsletters.range_index import BlockRangeIndex


class Story(models.Model):
    class Source(models.TextChoices):
        ADMIN = "admin", "Entered in admin"
        FEED = "feed", "RSS/Atom feed"
        API = "api", "API"

    headline = models.CharField(max_length=300)
    url = models.URLField(
        max_length=1000, unique=True, help_text="The article's address (http or https)."
    )
    summary = models.TextField(
        blank=True,
        help_text="Standfirst. Simple HTML (links, emphasis) is kept; the rest is removed.",
    )
    image_url = models.URLField(max_length=1000, blank=True)
    image_alt = models.CharField(
        max_length=300, blank=True, help_text="Describes the image for readers who cannot see it."
    )
    # Read from the image by a worker (story_images.py); null until then, or if it cannot be.
    image_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    image_height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    section = models.CharField(max_length=80, blank=True, db_index=True)
    byline = models.CharField(max_length=200, blank=True)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    is_featured = models.BooleanField(default=False, db_index=True)
    featured_until = models.DateTimeField(
        null=True, blank=True, help_text="Blank: featured until unfeatured."
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.ADMIN)
    feed = models.ForeignKey(
        "Feed", null=True, blank=True, on_delete=models.SET_NULL, related_name="stories"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-published_at", "-id"]
        verbose_name_plural = "stories"

    def __str__(self) -> str:
        return self.headline


class Feed(models.Model):
    """An RSS or Atom feed of the site's stories, polled by beat."""

    url = models.URLField(max_length=1000, unique=True)
    title = models.CharField(max_length=200, blank=True)
    section = models.CharField(max_length=80, blank=True, help_text="Given to its stories.")
    is_auto_feature = models.BooleanField(
        default=False, help_text="Feature every new story from this feed."
    )
    poll_interval_minutes = models.PositiveIntegerField(default=15)
    is_active = models.BooleanField(default=True)
    # Conditional GET: the server answers 304 and nothing is parsed when nothing changed.
    etag = models.CharField(max_length=300, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    error_count = models.PositiveIntegerField(default=0, help_text="Failures in a row.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.title or self.url


class EditionSchedule(models.Model):
    """A recurring edition: e.g. "06:30 Europe/London on weekdays, the top 8 featured stories"."""

    mailing_list = models.OneToOneField(
        MailingList, on_delete=models.CASCADE, related_name="edition_schedule"
    )
    # ISO weekdays, Monday = 1 … Sunday = 7.
    days_of_week = models.JSONField(
        default=list, help_text="ISO weekdays: 1 = Monday … 7 = Sunday."
    )
    local_time = models.TimeField(
        help_text="When the edition goes out, in the schedule's timezone."
    )
    timezone = models.CharField(max_length=64, default="Europe/London")
    story_count = models.PositiveSmallIntegerField(default=8)
    subject_template = models.CharField(
        max_length=200,
        default="{list} — {date}",
        help_text="{list} and {date} are replaced, e.g. “The Morning Briefing — Monday 3 March”.",
    )
    requires_approval = models.BooleanField(
        default=False, help_text="An editor must approve each edition before it is scheduled."
    )
    lead_minutes = models.PositiveIntegerField(
        default=60, help_text="How long before the send time the edition is composed."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Editions of {self.mailing_list}"


class Digest(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"

    mailing_list = models.ForeignKey(MailingList, on_delete=models.PROTECT, related_name="digests")
    subject = models.CharField(max_length=200, blank=True)
    preheader = models.CharField(
        max_length=200, blank=True, help_text="The line inboxes show after the subject."
    )

    class IntroFormat(models.TextChoices):
        MARKDOWN = "markdown", "Markdown"
        HTML = "html", "HTML (digests written before Markdown)"

    intro = models.TextField(
        blank=True, help_text="Markdown: **bold**, *italic*, [links](https://…), lists."
    )
    intro_format = models.CharField(
        max_length=8, choices=IntroFormat.choices, default=IntroFormat.MARKDOWN
    )
    stories: models.ManyToManyField[Story, DigestStory] = models.ManyToManyField(
        Story, through="DigestStory", related_name="digests"
    )
    state = models.CharField(
        max_length=20, choices=State.choices, default=State.DRAFT, db_index=True
    )
    send_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The zone the editor scheduled in, so the page says "06:30 (Europe/London)" as they meant it.
    send_zone = models.CharField(max_length=64, blank=True)
    edition_of = models.ForeignKey(
        EditionSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="digests"
    )
    edition_due_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    scheduled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scheduled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Frozen when sending starts: exactly what went out, and what the archive shows.
    rendered_subject = models.CharField(max_length=300, blank=True)
    rendered_html = models.TextField(blank=True)
    rendered_text = models.TextField(blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)
    # Set once the audience is in the ledger; a sending digest without it is snapshotted again.
    snapshot_at = models.DateTimeField(null=True, blank=True)
    audience_count = models.PositiveIntegerField(default=0)
    # Per-state counts kept when old ledger rows are deleted (retention), so totals stay known.
    retained_counts = models.JSONField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-send_at", "-created_at"]
        # Beyond add/change/delete/view (the Editor's), what only a Publisher may do.
        permissions = [
            ("schedule_digest", "Can schedule, unschedule and send digests now"),
            ("control_digest", "Can pause, resume, cancel and resend digests"),
            ("approve_digest", "Can approve a digest as the second person"),
        ]
        constraints = [
            # One digest per edition slot, however many beat ticks race to create it.
            models.UniqueConstraint(
                fields=["edition_of", "edition_due_at"], name="digest_one_per_edition_slot"
            ),
        ]

    def __str__(self) -> str:
        return self.subject or f"Digest {self.pk} (no subject yet)"

    @property
    def is_editable(self) -> bool:
        return self.state in {self.State.DRAFT, self.State.AWAITING_APPROVAL, self.State.SCHEDULED}

    @property
    def has_started(self) -> bool:
        """Sending began: the ledger exists, so the digest can no longer be deleted."""
        return self.snapshot_at is not None or self.state in {
            self.State.SENDING,
            self.State.PAUSED,
            self.State.SENT,
        }


class DigestStory(models.Model):
    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="items")
    story = models.ForeignKey(Story, on_delete=models.PROTECT, related_name="digest_items")
    position = models.PositiveSmallIntegerField(default=0)
    # This digest's wording only; the story itself (and other digests) keep theirs.
    headline_override = models.CharField(
        "headline in this digest", max_length=300, blank=True, help_text="Blank: the story's."
    )
    summary_override = models.TextField(
        "blurb in this digest", blank=True, help_text="Blank: the story's summary."
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "story in this digest"
        verbose_name_plural = "stories in this digest"
        constraints = [
            models.UniqueConstraint(fields=["digest", "story"], name="digest_story_once"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.story}"


class EditionRun(models.Model):
    """What beat did for one slot of a recurring edition: made a digest, or skipped and why."""

    class Outcome(models.TextChoices):
        CREATED = "created", "Digest created"
        SKIPPED = "skipped", "Skipped"

    schedule = models.ForeignKey(EditionSchedule, on_delete=models.CASCADE, related_name="runs")
    due_at = models.DateTimeField()
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason = models.CharField(max_length=300, blank=True)
    digest = models.ForeignKey(
        Digest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "due_at"], name="edition_run_once_per_slot"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule} at {self.due_at:%Y-%m-%d %H:%M}: {self.get_outcome_display()}"


class Delivery(models.Model):
    """The ledger: one row per (digest, subscriber), recording what happened to that one message.

    The audience is snapshotted into these rows when sending starts; from then on the rows, not
    a cursor, say who is still owed the digest, so a crash or a lost queue loses nobody.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    # No database-level foreign keys: PostgreSQL would check both for each of a million rows a
    # snapshot inserts (half its time, measured). Django still cascades deletes (an erased reader
    # leaves no row behind, not even in the ledger), and rows are only ever inserted for a digest
    # and readers that exist, by the snapshot's own join. No index on the digest (the unique one
    # leads with it); the reader's, for an erasure's cascade, is a BRIN on PostgreSQL (below).
    digest = models.ForeignKey(
        Digest,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_constraint=False,
        db_index=False,
    )
    subscriber = models.ForeignKey(
        "mailinglist.Subscriber",
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_constraint=False,
        db_index=False,
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    message_id = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Times a worker died holding this row (its claim expired): the message may have left before
    # the outcome was written, so this reader may have had the digest twice.
    expired_claims = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["digest", "subscriber"], name="delivery_once_per_reader"
            ),
        ]
        indexes = [
            # A batch claims its block's pending rows 200 ids at a time: with the id in the key,
            # that is one range of this index. Keyed on (digest, state) alone, PostgreSQL planned
            # the claim through it whenever its statistics predated the digest's rows (a new
            # send, before an ANALYZE) and walked every pending row of the digest to find the
            # 200: 23 ms a claim at 200,000 readers, 0.4 ms of database CPU a message at a
            # million (migration 0012).
            models.Index(fields=["digest", "state", "id"], name="delivery_digest_state_id"),
            BlockRangeIndex(fields=["subscriber"], name="delivery_subscriber"),
            # The rows being sent, for the reconciler. Keyed on the id because the sent mark's
            # WHERE implies its condition: keyed on claimed_at, PostgreSQL's plan for the mark
            # could read it whole, every row being sent, for each mark (migration 0010).
            models.Index(
                fields=["id"], name="delivery_sending", condition=models.Q(state="sending")
            ),
            # For a digest's report and the dashboard: the few rows worth a second look. Partial,
            # so the send path never writes them (only an ESP's note on a sent row or an expired
            # claim puts a row in). `state` (always "sent") is in the first one's key so that
            # SQLite prefers it to (digest, state): keyed on the digest alone, it read the
            # digest's 900,000 sent rows instead (measured).
            models.Index(
                fields=["digest", "state"],
                name="delivery_noted",
                condition=models.Q(state="sent") & ~models.Q(last_error=""),
            ),
            models.Index(
                fields=["digest"],
                name="delivery_possible_duplicate",
                condition=models.Q(expired_claims__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.digest_id}/{self.subscriber_id}: {self.state}"


class DigestEvent(models.Model):
    """Who did what to a digest's sending, and when (pause, resume, cancel, resend…)."""

    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=32)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} at {self.at:%Y-%m-%d %H:%M}"


# Mail that comes back has its record beside the code that writes it (inbound/models.py);
# imported here so that Django registers it with this app.
from newsletters.inbound import models as _inbound_models  # noqa: E402, F401
