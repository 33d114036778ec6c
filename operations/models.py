from __future__ import annotations

from django.conf import settings
from django.db import models


class MailCheck(models.Model):
    """One test message sent through the real path (web -> Redis -> worker -> EMAIL_URL).

    Operators use it to prove a new EMAIL_URL works; the row says what happened, so a failure is
    read in admin instead of being hunted for in worker logs.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    recipient = models.EmailField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    finished_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="The worker that sent it.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = "mail check"

    def __str__(self) -> str:
        return f"Mail check to {self.recipient} ({self.get_state_display()})"


class ApiToken(models.Model):
    """A staff user's bearer token for /api/v1/: stored as a hash, shown once when made."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="First characters, to tell tokens apart.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class SigningKey(models.Model):
    """A DKIM key for mail whose From is at `domain` or under it (a list with its own sender).

    Made in admin, never typed in: the private key is generated there and never shown. The key
    from DKIM_PRIVATE_KEY_FILE is not a row; operations/dkim/selection.py serves both.
    """

    class Algorithm(models.TextChoices):
        RSA = "rsa", "RSA-2048 (verified by every receiver)"
        ED25519 = "ed25519", "Ed25519 (RFC 8463; not yet verified by Gmail)"

    domain = models.CharField(
        max_length=253,
        unique=True,
        help_text="The From address's domain, or a parent of it (news.example.com).",
    )
    selector = models.CharField(
        max_length=63, help_text="The DNS label the record is published under (newsdesk1)."
    )
    algorithm = models.CharField(max_length=8, choices=Algorithm.choices, default=Algorithm.RSA)
    private_key_pem = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]
        verbose_name = "DKIM signing key"

    def __str__(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"
