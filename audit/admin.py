"""The audit trail in admin: read by superusers, filtered and searched, never changed."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEntry

SHOWN = (
    "at",
    "actor",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "detail",
    "ip",
    "user_agent",
    "via",
)


def _is_superuser(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_superuser)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    """Superusers only: roles grant everything else, but not reading what other staff did."""

    list_display = ["at", "actor_display", "action", "target_display", "ip", "via"]
    list_filter = ["action", "via", ("at", admin.DateFieldListFilter)]
    date_hierarchy = "at"
    search_fields = ["actor_name", "target_repr", "action"]
    search_help_text = _("Searches the staff member's name, the record's name and the action.")
    fields = readonly_fields = SHOWN
    list_select_related = False  # the actor's name is copied onto the entry
    # Facet counts would re-count the whole trail for every choice.
    show_facets = admin.ShowFacets.NEVER

    @admin.display(description=_("User"), ordering="actor_name")
    def actor_display(self, entry: AuditEntry) -> str:
        return entry.actor_name or "—"

    @admin.display(description=_("Record"), ordering="target_repr")
    def target_display(self, entry: AuditEntry) -> str:
        if not entry.target_type:
            return entry.target_repr or "—"
        return f"{entry.target_type}: {entry.target_repr}"

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_view_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return _is_superuser(request)

    # Append-only, even for superusers: an entry someone could rewrite would prove nothing.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False
