from django.apps import AppConfig


class MailinglistConfig(AppConfig):
    """The audience: lists, subscribers, subscriptions, consent and suppression."""

    name = "mailinglist"
    verbose_name = "Audience"
