from django.apps import AppConfig


class NewslettersConfig(AppConfig):
    """Content and delivery: stories, digests, rendering, scheduling and sending."""

    name = "newsletters"
    verbose_name = "Newsletters"
