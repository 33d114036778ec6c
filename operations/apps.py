from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """What an operator needs to see the system is alive: /healthz, heartbeats, mail checks."""

    name = "operations"
    verbose_name = "Operations"
