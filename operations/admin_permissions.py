"""Role checks the admin does not make by itself, shared by every app's ModelAdmins."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

_M = TypeVar("_M", bound=Model)


class ActionsNeedPermission(admin.ModelAdmin[_M]):
    """A POSTed action the user's role may not use answers 403.

    Django leaves such an action out of the menu, but a request that names it anyway only gets
    "No action selected" (200 or 302): nothing changes, yet it looks like a form that failed
    rather than a refusal, and a client cannot tell the two apart.
    """

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        name = request.POST.get("action") if request.method == "POST" else None
        if name and name not in self.get_actions(request):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)
