from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

# Field lengths, shared with records.py, which trims every value to fit rather than fail.
ACTOR_NAME_LENGTH = 150  # Django's username length
ACTION_LENGTH = 64
TARGET_TYPE_LENGTH = 64
TARGET_ID_LENGTH = 64
TARGET_REPR_LENGTH = 300
USER_AGENT_LENGTH = 300
VIA_LENGTH = 16


class AuditEntry(models.Model):
    """One staff action: who (kept by name too, so the entry outlives the user), when, what, to
    which record and from where. Append-only: nothing in the product changes an entry, except
    that erasing a subscriber replaces their address in `target_repr` with its hash."""

    class Via(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        COMMAND = "command", "Command"

    at = models.DateTimeField("when", default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="user",
        db_index=False,  # covered by the (actor, at) index below
    )
    actor_name = models.CharField("user's name", max_length=ACTOR_NAME_LENGTH, blank=True)
    action = models.CharField(
        max_length=ACTION_LENGTH, help_text="What was done, e.g. digest.schedule or list.change."
    )
    target_type = models.CharField("record type", max_length=TARGET_TYPE_LENGTH, blank=True)
    target_id = models.CharField("record id", max_length=TARGET_ID_LENGTH, blank=True)
    target_repr = models.CharField("record", max_length=TARGET_REPR_LENGTH, blank=True)
    detail = models.JSONField(
        "what changed", default=dict, blank=True, help_text="E.g. field names or a send time."
    )
    ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField("browser", max_length=USER_AGENT_LENGTH, blank=True)
    via = models.CharField("channel", max_length=VIA_LENGTH, choices=Via.choices, default=Via.ADMIN)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"
        # The admin's list is newest first, filtered by date, action or actor.
        indexes = [
            models.Index(fields=["at"], name="audit_at"),
            models.Index(fields=["action", "at"], name="audit_action_at"),
            models.Index(fields=["actor", "at"], name="audit_actor_at"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
        ]

    def __str__(self) -> str:
        who = self.actor_name or "—"
        return f"{self.at:%Y-%m-%d %H:%M} {who}: {self.action} {self.target_repr}".rstrip()
