from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Who did what to which record, when and from where: read-only, for superusers."""

    name = "audit"
    verbose_name = "Audit trail"
