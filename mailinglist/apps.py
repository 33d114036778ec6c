from django.apps import AppConfig


class MailinglistConfig(AppConfig):
    """The audience: lists, subscribers, subscriptions, consent and suppression."""

    name = "mailinglist"
    verbose_name = "Audience"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from mailinglist.models import MailingList
        from mailinglist.public_lists import public_lists_forget

        # The signup form's in-process cache of public lists (public_lists.public_lists).
        for signal in (post_save, post_delete):
            signal.connect(
                public_lists_forget, sender=MailingList, dispatch_uid="public_lists_forget"
            )
        post_migrate.connect(public_lists_forget, dispatch_uid="public_lists_forget")
