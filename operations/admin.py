from __future__ import annotations

from typing import Any

from axes.models import AccessFailureLog, AccessLog  # type: ignore[import-untyped]
from django.contrib import admin, messages
from django.forms import ModelForm
from django.http import HttpRequest

from audit.admin_logging import AuditedAdmin
from operations.admin_permissions import ActionsNeedPermission
from operations.api_tokens import api_token_issue
from operations.mailcheck import mail_check_create
from operations.models import ApiToken, MailCheck


@admin.register(MailCheck)
class MailCheckAdmin(AuditedAdmin[MailCheck], ActionsNeedPermission[MailCheck]):
    """Adding a mail check sends it; the list shows each outcome with its error, if any."""

    list_display = ["recipient", "state", "requested_at", "finished_at", "worker", "error"]
    list_filter = ["state"]
    fields = ["recipient"]
    audit_noun = "mail_check"
    audit_verbs = {"add": "send"}
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


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdmin[ApiToken], ActionsNeedPermission[ApiToken]):
    """Creating one shows the token once; only its hash is kept. Superusers only: a token acts
    as its user, so handing them out is not part of any role."""

    list_display = ["user", "prefix", "created_at", "last_used_at"]
    fields = ["user"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    audit_noun = "token"
    audit_verbs = {"add": "issue", "delete": "revoke"}

    def audit_detail(self, request: HttpRequest, obj: ApiToken) -> dict[str, object]:
        return {"user": obj.user.get_username()}

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False  # replace a token by creating a new one for the user

    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: ModelForm[ApiToken], change: bool
    ) -> None:
        token = api_token_issue(user=obj.user)
        saved = ApiToken.objects.get(user=obj.user)
        obj.pk, obj.token_hash, obj.prefix = saved.pk, saved.token_hash, saved.prefix
        messages.warning(
            request, f"API token for {obj.user}: {token} — copy it now, it will not be shown again."
        )


# django-axes' lockouts are under Axes → Access attempts (deleting one lifts it). Its login logs
# are off (AXES_DISABLE_ACCESS_LOG: a row per staff login would grow forever, and the audit trail
# records what staff do), so their empty pages are not offered.
admin.site.unregister([AccessLog, AccessFailureLog])
