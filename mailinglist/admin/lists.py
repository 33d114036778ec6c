"""Mailing lists in admin, with their active and pending subscriber counts."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import (
    HttpRequest,
)

from mailinglist.models import (
    MailingList,
    Subscription,
)
from operations.admin_permissions import ActionsNeedPermission

State = Subscription.State


# --- Lists -------------------------------------------------------------------------------------


@admin.register(MailingList)
class MailingListAdmin(ActionsNeedPermission[MailingList]):
    list_display = ["name", "slug", "is_public", "active_count", "pending_count", "created_at"]
    list_filter = ["is_public"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[MailingList]:
        # Counted in the same query as the page of lists, not once per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                active_count=Count("subscriptions", filter=Q(subscriptions__state=State.ACTIVE)),
                pending_count=Count("subscriptions", filter=Q(subscriptions__state=State.PENDING)),
            )
        )

    @admin.display(description="Active subscribers", ordering="active_count")
    def active_count(self, obj: MailingList) -> int:
        return int(getattr(obj, "active_count", 0))

    @admin.display(description="Pending confirmation", ordering="pending_count")
    def pending_count(self, obj: MailingList) -> int:
        return int(getattr(obj, "pending_count", 0))
