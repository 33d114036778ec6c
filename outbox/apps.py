from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """The local outbox: an email backend that keeps each message as a file, read in the browser."""

    name = "outbox"
    verbose_name = "Local outbox"
