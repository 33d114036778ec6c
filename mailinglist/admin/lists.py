"""Mailing lists in admin, with their active and pending subscriber counts."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Count, Q, QuerySet
from django.http import (
    HttpRequest,
)
from django.urls import reverse
from django.utils.html import format_html

from audit.admin_logging import AuditedAdmin
from mailinglist.models import (
    MailingList,
    Subscription,
)
from mailinglist.zones import zone_choices
from operations.admin_permissions import ActionsNeedPermission
from operations.dkim.selection import address_domain, signer_for

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

State = Subscription.State


# --- Lists -------------------------------------------------------------------------------------


# The list's page in admin, and so the fields its form edits (dkim_status is shown, not edited).
LIST_FIELDSETS: _FieldsetSpec = [
    (None, {"fields": ["name", "slug", "description", "is_public", "is_default_checked"]}),
    (
        "Its mail",
        {
            "fields": [
                "from_name",
                "from_email",
                "reply_to",
                "dkim_status",
                "language",
                "is_welcome_enabled",
                "seed_addresses",
            ]
        },
    ),
    (
        "Branding",
        {
            "description": "How its mail looks. Blank fields use the site's name and "
            "MAILING_ADDRESS.",
            "fields": [
                "masthead_name",
                "logo",
                "logo_alt",
                "accent_colour",
                "footer_text",
                "postal_address",
                "is_utm_enabled",
            ],
        },
    ),
    ("Sending", {"fields": ["default_timezone", "requires_second_approval"]}),
]
READ_ONLY_FIELDS = {"dkim_status"}


class MailingListForm(forms.ModelForm[MailingList]):
    default_timezone = forms.ChoiceField(
        choices=zone_choices,
        initial="Europe/London",
        help_text=MailingList._meta.get_field("default_timezone").help_text,
    )

    class Meta:
        model = MailingList
        fields = [
            name for name in flatten_fieldsets(LIST_FIELDSETS) if name not in READ_ONLY_FIELDS
        ]
        # The browser's colour picker; the value is still checked for contrast on save.
        widgets = {"accent_colour": forms.TextInput(attrs={"type": "color"})}

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
    readonly_fields = sorted(READ_ONLY_FIELDS)
    fieldsets = LIST_FIELDSETS

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

    @admin.display(description="DKIM signing")
    def dkim_status(self, obj: MailingList) -> str:
        domain = address_domain(obj.from_email or str(settings.DEFAULT_FROM_EMAIL))
        signer = signer_for(domain) if domain else None
        if signer is not None:
            return format_html(
                "<span class='dkim-aligned'>✔ Mail from {} is signed "
                "(key {}._domainkey.{}).</span>",
                domain,
                signer.selector,
                signer.domain,
            )
        add_url = reverse("admin:operations_signingkey_add") + "?" + urlencode({"domain": domain})
        return format_html(
            "<span class='dkim-missing'>⚠ No DKIM key for {}: mail from this list goes out "
            "unsigned unless your mail server signs it (OpenDKIM).</span> "
            "<a href='{}'>Add a signing key for {}</a>",
            domain or "(no From address)",
            add_url,
            domain,
        )
