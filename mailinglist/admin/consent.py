"""The suppression list and the consent records in admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import (
    HttpRequest,
)
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.admin_logging import AuditedAdmin
from mailinglist import subscriptions
from mailinglist.addresses import MAX_EMAIL_LENGTH, email_hash, email_normalise
from mailinglist.models import (
    ConsentEvent,
    ConsentWording,
    Suppression,
)
from operations.admin_permissions import ActionsNeedPermission

# --- Suppression and consent records -----------------------------------------------------------


class SuppressionAddForm(forms.ModelForm[Suppression]):
    email = forms.CharField(label=_("Email address"), max_length=MAX_EMAIL_LENGTH * 4)

    class Meta:
        model = Suppression
        fields = ["email", "reason", "note"]

    def clean_email(self) -> str:
        email = email_normalise(self.cleaned_data.get("email", ""))
        if Suppression.objects.filter(email_hash=email_hash(email)).exists():
            raise ValidationError(gettext("This address is already on the suppression list."))
        return email


@admin.register(Suppression)
class SuppressionAdmin(AuditedAdmin[Suppression], ActionsNeedPermission[Suppression]):
    list_display = ["address", "reason", "note", "created_at"]
    list_filter = ["reason", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["email", "=email_hash"]
    search_help_text = _("An address finds its entry even when only its hash is kept (erased).")
    audit_verbs = {"delete": "remove"}

    def audit_detail(self, request: HttpRequest, obj: Suppression) -> dict[str, object]:
        return {"reason": obj.reason}

    @admin.display(description=_("Address"), ordering="email")
    def address(self, obj: Suppression) -> str:
        return obj.email or gettext("(erased) %(hash)s…") % {"hash": obj.email_hash[:12]}

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Suppression], search_term: str
    ) -> tuple[QuerySet[Suppression], bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if "@" in search_term:
            found |= queryset.filter(email_hash=email_hash(search_term))
        return found, may_have_duplicates

    def get_form(
        self,
        request: HttpRequest,
        obj: Suppression | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[Suppression]]:
        if obj is None:
            kwargs["form"] = SuppressionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Suppression | None = None) -> bool:
        return False  # entries are added or removed, never rewritten

    def save_model(
        self,
        request: HttpRequest,
        obj: Suppression,
        form: forms.ModelForm[Suppression],
        change: bool,
    ) -> None:
        # Through the domain function, which never keeps the address of an erased entry.
        created = subscriptions.suppression_add(
            email=form.cleaned_data["email"], reason=obj.reason, note=obj.note
        )
        # Copied back so the admin's log entry shows what was stored, not the typed address.
        obj.pk = created.pk
        obj.email = created.email
        obj.email_hash = created.email_hash
        obj.created_at = created.created_at


class ConsentWordingShown:
    """The exact consent words beside each record, fetched in the same query as the records.

    For the consent records' own admin and the consent history on a subscriber's page alike.
    """

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConsentEvent]:
        # form_version names a ConsentWording.
        words = ConsentWording.objects.filter(version=OuterRef("form_version")).values("text")
        queryset: QuerySet[ConsentEvent] = super().get_queryset(request)  # type: ignore[misc]
        return queryset.annotate(wording_text=Subquery(words[:1]))

    @admin.display(description=_("Consent wording the reader saw"))
    def consent_wording(self, obj: ConsentEvent) -> str:
        if not obj.form_version:
            return "—"
        text = getattr(obj, "wording_text", None)
        if text is None:
            text = (
                ConsentWording.objects.filter(version=obj.form_version)
                .values_list("text", flat=True)
                .first()
            )
        return text or gettext("(version %(version)s: wording not stored)") % {
            "version": obj.form_version
        }


@admin.register(ConsentEvent)
class ConsentEventAdmin(ConsentWordingShown, ActionsNeedPermission[ConsentEvent]):
    """The consent record across all subscribers. Append-only: nothing here can be changed."""

    list_display = ["at", "kind", "who", "lists", "ip", "consent_wording", "detail"]
    list_filter = ["kind", ("at", admin.DateFieldListFilter)]
    search_fields = ["subscriber__email", "=email_hash"]
    list_select_related = ["subscriber"]
    readonly_fields = ["consent_wording"]
    date_hierarchy = "at"

    @admin.display(description=_("Subscriber"))
    def who(self, obj: ConsentEvent) -> str:
        if obj.subscriber is not None:
            return obj.subscriber.email
        if not obj.email_hash:
            return "—"
        return gettext("(erased) %(hash)s…") % {"hash": obj.email_hash[:12]}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ConsentEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ConsentEvent | None = None) -> bool:
        return False
