"""Mailing lists in admin, with their active and pending subscriber counts."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Count, Q, QuerySet
from django.http import (
    HttpRequest,
)

from audit.admin_logging import AuditedAdmin
from mailinglist.models import (
    MailingList,
    Subscription,
)
from mailinglist.zones import zone_choices
from operations.admin_permissions import ActionsNeedPermission

State = Subscription.State


# --- Lists -------------------------------------------------------------------------------------


class MailingListForm(forms.ModelForm[MailingList]):
    default_timezone = forms.ChoiceField(
        choices=zone_choices,
        initial="Europe/London",
        help_text=MailingList._meta.get_field("default_timezone").help_text,
    )

    class Meta:
        model = MailingList
        fields = [
            "name",
            "slug",
            "description",
            "is_public",
            "is_default_checked",
            "from_name",
            "from_email",
            "reply_to",
            "is_welcome_enabled",
            "default_timezone",
            "seed_addresses",
            "requires_second_approval",
        ]

    def clean_seed_addresses(self) -> str:
        lines = [line.strip() for line in self.cleaned_data["seed_addresses"].splitlines()]
        bad = []
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            try:
                validate_email(line)
            except ValidationError:
                bad.append(f"line {number} ({line[:60]!r})")
        if bad:
            raise ValidationError("Not an email address: " + ", ".join(bad) + ".")
        return "\n".join(line for line in lines if line)


@admin.register(MailingList)
class MailingListAdmin(AuditedAdmin[MailingList], ActionsNeedPermission[MailingList]):
    audit_noun = "list"
    form = MailingListForm
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
