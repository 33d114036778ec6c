from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo news site that `make run` shows: an article page with the signup footer."""

    name = "demo"
    verbose_name = "Demo site"
