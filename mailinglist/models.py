"""The audience: who is on which list, how they got there, and who must never be mailed.

Fields, states, constraints and cheap properties only: the rules live in subscriptions.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.validators import FileExtensionValidator
from django.db import models
from django.db.models.functions import Lower

from mailinglist.addresses import email_hash
from mailinglist.looks import DEFAULT_ACCENT, accent_colour_validate, logo_size_validate


def new_public_id() -> str:
    # Tokens in mail links are signed over this, never over the sequential primary key.
    return secrets.token_urlsafe(16)


class MailingList(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True, help_text="Shown to readers on the signup form.")
    is_public = models.BooleanField(
        default=True, help_text="Public lists are offered on the signup form; private ones are not."
    )
    is_default_checked = models.BooleanField(
        default=False, help_text="Ticked in advance on the signup form."
    )
    from_name = models.CharField(max_length=120, blank=True)
    from_email = models.EmailField(blank=True, help_text="Blank: DEFAULT_FROM_EMAIL.")
    reply_to = models.EmailField(blank=True)
    is_welcome_enabled = models.BooleanField(
        default=True, help_text="Send a welcome email when a reader confirms."
    )
    language = models.CharField(
        max_length=8,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
        help_text="The language of this list's mail (confirmation, welcome, digests) and of the "
        "pages its links open.",
    )
    # Branding of the list's mail (mailinglist/branding.py); blank fields fall back to the site's.
    masthead_name = models.CharField(
        max_length=120, blank=True, help_text="The name atop its mail. Blank: the site's name."
    )
    logo = models.ImageField(
        upload_to="logos/",
        blank=True,
        width_field="logo_width",
        height_field="logo_height",
        validators=[FileExtensionValidator(["png", "jpg", "jpeg", "gif"]), logo_size_validate],
        help_text="PNG, JPEG or GIF, at most 1 MB; shown at most 200 px wide atop its mail.",
    )
    logo_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    logo_height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    logo_alt = models.CharField(
        max_length=200, blank=True, help_text="What the logo says, for readers who cannot see it."
    )
    accent_colour = models.CharField(
        max_length=7,
        default=DEFAULT_ACCENT,
        validators=[accent_colour_validate],
        help_text="Links, section labels and buttons; dark enough to read on white.",
    )
    footer_text = models.TextField(
        blank=True, help_text="A line or two at the foot of its mail, above the postal address."
    )
    postal_address = models.TextField(
        blank=True,
        help_text="The sender's postal address its mail carries. Blank: MAILING_ADDRESS.",
    )
    is_utm_enabled = models.BooleanField(
        default=True,
        help_text="Tag story links with utm_source=newsletter, utm_medium=email and "
        "utm_campaign=<this list's slug> (tags a link already has are kept).",
    )
    default_timezone = models.CharField(
        max_length=64,
        default="Europe/London",
        help_text="The timezone the digest page offers first when scheduling (IANA name).",
    )
    seed_addresses = models.TextField(
        blank=True,
        help_text="Colleagues who get test sends of this list's digests: one address per line.",
    )
    requires_second_approval = models.BooleanField(
        default=False,
        help_text="Two-person rule: a second Publisher approves each digest before it goes out.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SubscriberQuerySet(models.QuerySet["Subscriber"]):
    def bulk_create(
        self, objs: Iterable[Subscriber], *args: Any, **kwargs: Any
    ) -> list[Subscriber]:
        # bulk_create skips save(): keep email_hash right for imports and fixtures too.
        objs = list(objs)
        for subscriber in objs:
            subscriber.email_hash = email_hash(subscriber.email)
        return super().bulk_create(objs, *args, **kwargs)


class Subscriber(models.Model):
    # Stored normalised (domain lower-cased and IDNA-encoded); unique ignoring case.
    email = models.EmailField(max_length=254)
    # What the suppression list matches on (see addresses.email_hash), kept beside the address so
    # a digest's audience snapshot can leave suppressed readers out in one set-based statement.
    email_hash = models.CharField(max_length=64, editable=False, default="")
    name = models.CharField(max_length=100, blank=True)
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    paused_until = models.DateTimeField(
        null=True, blank=True, help_text="No digests until then (set from the preference centre)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="subscriber_email_unique_ci"),
        ]
        permissions = [("export_subscribers", "Can export subscribers as CSV")]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email_hash = email_hash(self.email)
        if kwargs.get("update_fields") is not None and "email" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "email_hash"}
        super().save(*args, **kwargs)


class Subscription(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending confirmation"
        ACTIVE = "active", "Active"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    class Source(models.TextChoices):
        FORM = "form", "Signup form"
        API = "api", "Public API"
        IMPORT = "import", "Import"
        STAFF = "staff", "Staff"

    # No index of their own: the unique (subscriber, mailing_list) and (mailing_list, state)
    # lead with each, and two more B-trees were a tenth of an import's writes (#16).
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="subscriptions", db_index=False
    )
    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.CASCADE, related_name="subscriptions", db_index=False
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.FORM)
    created_at = models.DateTimeField(auto_now_add=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "mailing_list"], name="subscription_once_per_list"
            ),
        ]
        indexes = [models.Index(fields=["mailing_list", "state"], name="subscription_list_state")]

    def __str__(self) -> str:
        return f"{self.subscriber} on {self.mailing_list} ({self.state})"


class ConsentEvent(models.Model):
    """Append-only record of what a person agreed to, or withdrew, and how we know."""

    class Kind(models.TextChoices):
        SIGNUP = "signup", "Signed up"
        CONFIRM = "confirm", "Confirmed"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribed"
        RESUBSCRIBE = "resubscribe", "Undid an unsubscribe"
        PREFERENCES = "preferences", "Changed preferences"
        PAUSE = "pause", "Paused"
        IMPORT = "import", "Imported"
        ERASE = "erase", "Erased"

    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    # Kept for an erasure, whose subscriber is gone: SHA-256 of the address, never the address.
    email_hash = models.CharField(max_length=64, blank=True, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    lists = models.JSONField(default=list, blank=True, help_text="Slugs of the lists concerned.")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    source_url = models.CharField(max_length=500, blank=True)
    form_version = models.CharField(
        max_length=64, blank=True, help_text="Version of the consent wording the reader saw."
    )
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # The newsroom dashboard counts events of one kind per day (signups, confirmations,
            # unsubscribes) without reading every event ever recorded.
            models.Index(fields=["kind", "at"], name="consent_kind_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"


class ConsentWording(models.Model):
    """One version of the signup form's consent text, word for word, as readers saw it.

    ConsentEvent.form_version and SignupRequest.form_version name a row here by `version`, so a
    consent record can show the exact words someone agreed to long after the form has changed.
    Rows are added, never edited: a new wording is a new version.
    """

    version = models.CharField(
        max_length=64, unique=True, help_text="The form_version that consent records carry."
    )
    text = models.TextField(help_text="The consent text exactly as the form showed it.")
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-first_seen_at", "-id"]

    def __str__(self) -> str:
        return f"Consent wording {self.version}"


class Suppression(models.Model):
    """Addresses never to be mailed, whatever their subscriptions say."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", "Hard bounce"
        COMPLAINED = "complained", "Spam complaint"
        ERASED = "erased", "Erased on request"
        MANUAL = "manual", "Added by staff"

    # SHA-256 of the normalised, lower-cased address: matches without storing it (see addresses.py).
    email_hash = models.CharField(max_length=64, unique=True)
    email = models.EmailField(max_length=254, blank=True, help_text="Blank for erased entries.")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # Bounces and complaints per day on the newsroom dashboard.
            models.Index(fields=["reason", "created_at"], name="suppression_reason_created"),
        ]

    def __str__(self) -> str:
        return f"{self.email or self.email_hash[:12] + '…'} ({self.get_reason_display()})"


class SignupRequest(models.Model):
    """A signup as submitted, waiting for a worker.

    The web process only validates and stores this row, which costs the same whatever the state
    of the address: the state-dependent work (and its timing) happens in the worker, so a
    response never reveals whether someone is subscribed. Workers find the row by draining
    unprocessed ones (signup_drain.py); no task names it.
    """

    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=100, blank=True)
    list_slugs = models.JSONField(default=list)
    source = models.CharField(max_length=16, choices=Subscription.Source.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    source_url = models.CharField(max_length=500, blank=True)
    form_version = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"Signup request {self.pk}"


class ImportJob(models.Model):
    """A CSV of subscribers uploaded by staff: previewed first, then imported in chunks.

    The counters partition the file's rows (blank rows aside): every row is added, already on the
    list, skipped as unsubscribed, a duplicate, suppressed or invalid. Before the import starts
    they hold the preview's forecast; the run recounts from zero as it goes.
    """

    class State(models.TextChoices):
        PREVIEWED = "previewed", "Previewed, not started"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.CASCADE, related_name="import_jobs"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Blank for imports run with manage.py import_subscribers.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    file_name = models.CharField(max_length=255)
    # The file is personal data: it is emptied as the import starts (imports.import_job_run).
    content = models.TextField(blank=True, help_text="The CSV as uploaded; emptied when done.")
    is_consented = models.BooleanField(
        default=False,
        help_text="Staff said these people already agreed: subscriptions start active.",
    )
    consent_note = models.CharField(
        max_length=500, blank=True, help_text="How and when these people agreed."
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PREVIEWED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    imported_count = models.PositiveIntegerField(default=0)
    merged_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    invalid_count = models.PositiveIntegerField(default=0)
    suppressed_count = models.PositiveIntegerField(default=0)
    skipped_unsubscribed_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text='Rows not imported: [{"line", "email", "reason"}].'
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the import failed, if it did.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # "They already agreed" without saying how is not a consent record.
            models.CheckConstraint(
                condition=models.Q(is_consented=False) | ~models.Q(consent_note=""),
                name="importjob_consent_has_note",
            ),
        ]

    def __str__(self) -> str:
        return f"Import {self.pk}: {self.file_name}"

    @property
    def is_finished(self) -> bool:
        return self.state in {self.State.DONE, self.State.FAILED}

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return min(100, self.processed_rows * 100 // self.total_rows) if self.total_rows else 0
