from typing import Any

from django.apps import AppConfig


class NewslettersConfig(AppConfig):
    """Content and delivery: stories, digests, rendering, scheduling and sending."""

    name = "newsletters"
    verbose_name = "Newsletters"

    def ready(self) -> None:
        from anymail.signals import tracking

        tracking.connect(_tracking_received, dispatch_uid="newsletters.delivery.tracking")


def _tracking_received(sender: object, *, event: Any, esp_name: str, **kwargs: Any) -> None:
    """An ESP's tracking webhook delivered an event (anymail's signal): apply it."""
    from newsletters.delivery.tracking import tracking_event_apply

    tracking_event_apply(event=event, esp_name=esp_name)
