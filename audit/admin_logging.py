"""`AuditedAdmin`: a ModelAdmin whose adds, changes and deletions also go on the audit trail.

Django's admin already calls `log_addition`, `log_change` and `log_deletions` (plural since
Django 5.1) for every save and delete made through its forms, its changelist's editable columns
and its delete action, each with the change message it writes to its own history. Recording in
those three hooks catches every such save, including ones a subclass makes in its own
`save_model`, without each admin remembering to.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.records import audit_record

_ModelT = TypeVar("_ModelT", bound=models.Model)


class AuditedAdmin(admin.ModelAdmin[_ModelT]):
    """Records `<noun>.add`, `<noun>.change` (with the changed fields) and `<noun>.delete`."""

    # The first half of the action slug ("list" gives list.add, list.change, list.delete); the
    # model's name when empty.
    audit_noun: str = ""
    # A better verb for what an add or a delete means here, e.g. {"add": "issue"} for a token.
    audit_verbs: dict[str, str] = {}

    def audit_action(self, verb: str) -> str:
        noun = self.audit_noun or self.opts.model_name
        return f"{noun}.{self.audit_verbs.get(verb, verb)}"

    def audit_detail(self, request: HttpRequest, obj: _ModelT) -> dict[str, object]:
        """Facts worth keeping with each entry besides the changed fields (none by default)."""
        return {}

    def log_addition(self, request: HttpRequest, obj: _ModelT, message: Any) -> LogEntry:
        logged = super().log_addition(request, obj, message)
        audit_record(
            action=self.audit_action("add"),
            request=request,
            target=obj,
            detail={**change_detail(message), **self.audit_detail(request, obj)},
        )
        return logged

    def log_change(self, request: HttpRequest, obj: _ModelT, message: Any) -> LogEntry:
        logged = super().log_change(request, obj, message)
        audit_record(
            action=self.audit_action("change"),
            request=request,
            target=obj,
            detail={**change_detail(message), **self.audit_detail(request, obj)},
        )
        return logged

    def log_deletions(
        self, request: HttpRequest, queryset: QuerySet[_ModelT]
    ) -> list[LogEntry] | LogEntry:
        # Called before the rows go, so each still has its primary key and its name.
        logged = super().log_deletions(request, queryset)
        for obj in queryset:
            audit_record(
                action=self.audit_action("delete"),
                request=request,
                target=obj,
                detail=self.audit_detail(request, obj),
            )
        return logged


def change_detail(message: Any) -> dict[str, object]:
    """What an admin save changed, from the change message Django writes to its own history:
    the labels of the changed fields, and the inline rows added, changed or deleted."""
    if isinstance(message, str):
        return {"message": message} if message else {}
    fields: list[str] = []
    related: list[str] = []
    for part in message if isinstance(message, list) else []:
        if not isinstance(part, dict):
            continue
        for kind, about in part.items():
            if not isinstance(about, dict):
                continue
            if "object" in about:  # an inline row: its kind, its name and what changed in it
                changed = ", ".join(str(f) for f in about.get("fields", []))
                suffix = f" ({changed})" if changed else ""
                related.append(f"{kind} {about.get('name', '')} “{about['object']}”{suffix}")
            elif kind == "changed":
                fields.extend(str(f) for f in about.get("fields", []))
    detail: dict[str, object] = {}
    if fields:
        detail["fields"] = fields
    if related:
        detail["related"] = related
    return detail
