"""What came back by mail (bounces, complaints, mailto: unsubscribes): a read-only list.

Rows are written only by newsletters.inbound.process; staff read them to see why an address was
suppressed or a row failed, so nothing here adds, changes or deletes one.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from newsletters.inbound.models import InboundEvent


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin[InboundEvent]):
    list_display = ("received_at", "kind", "subscriber", "digest_id", "delivery_id", "detail")
    list_filter = ("kind", "source")
    list_select_related = ("subscriber",)
    search_fields = ("detail",)
    date_hierarchy = "received_at"
    # A raw id, not a list of every reader as a select box.
    raw_id_fields = ("subscriber",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
