"""The record of mail that came back: one row per bounce, complaint or mailto: unsubscribe applied.

Part of the newsletters app (newsletters/models.py imports it so that Django registers it); it
lives here, beside the code that writes it (process.py).
"""

from __future__ import annotations

from django.db import models


class InboundEvent(models.Model):
    """A bounce, complaint or mailto: unsubscribe that came back by mail, applied once; soft
    bounces are scored from these rows. Mail that named nobody is only logged, never stored."""

    class Kind(models.TextChoices):
        HARD_BOUNCE = "hard-bounce", "Hard bounce"
        SOFT_BOUNCE = "soft-bounce", "Soft bounce"
        DELAYED = "delayed", "Delayed"
        COMPLAINT = "complaint", "Spam complaint"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribe by mail"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    # No database constraint, as on Delivery; an erased reader leaves the row with no name.
    subscriber = models.ForeignKey(
        "mailinglist.Subscriber",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    digest_id = models.PositiveBigIntegerField(null=True, blank=True)
    delivery_id = models.PositiveBigIntegerField(null=True, blank=True)
    email_hash = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    # SHA-256 of the raw mail: a mailbox fetched twice or an LMTP retry applies it once.
    fingerprint = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # Soft-bounce scoring: one address's recent events of one kind.
            models.Index(fields=["email_hash", "kind", "received_at"], name="inbound_score"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.received_at:%Y-%m-%d %H:%M}"
