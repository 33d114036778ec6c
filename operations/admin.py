from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from operations.mailcheck import mail_check_create
from operations.models import MailCheck


@admin.register(MailCheck)
class MailCheckAdmin(admin.ModelAdmin[MailCheck]):
    """Adding a mail check sends it; the list shows each outcome with its error, if any."""

    list_display = ["recipient", "state", "requested_at", "finished_at", "worker", "error"]
    list_filter = ["state"]
    fields = ["recipient"]
    readonly_fields = ["requested_by", "state", "finished_at", "message_id", "worker", "error"]

    def get_fields(self, request: HttpRequest, obj: MailCheck | None = None) -> list[str]:  # type: ignore[override]
        return ["recipient"] if obj is None else ["recipient", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: MailCheck | None = None) -> list[str]:
        return [] if obj is None else ["recipient", *self.readonly_fields]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"recipient": getattr(request.user, "email", "")}

    def has_change_permission(self, request: HttpRequest, obj: MailCheck | None = None) -> bool:
        return False  # a check is a record of what happened; it is not edited

    def save_model(
        self, request: HttpRequest, obj: MailCheck, form: ModelForm[MailCheck], change: bool
    ) -> None:
        created = mail_check_create(recipient=obj.recipient, requested_by=request.user)  # type: ignore[arg-type]  # staff-only view: never anonymous
        obj.pk = created.pk
        obj.requested_at = created.requested_at
