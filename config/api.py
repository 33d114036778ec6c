"""/api/v1/: one NinjaAPI, with a router per app. Every error is JSON {"detail": ...} with a 4xx."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError

from mailinglist.api import router as mailinglist_router
from newsletters.api import router as newsletters_router

api = NinjaAPI(
    title="Newsdesk API",
    version="1",
    urls_namespace="api",
    description="Signup for readers; lists, subscribers, stories and digests for staff.",
)
api.add_router("", mailinglist_router)
api.add_router("", newsletters_router)


def _validation_detail(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors:
        location = ".".join(
            str(part) for part in error.get("loc", ()) if part not in {"body", "payload"}
        )
        parts.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "Invalid request."


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(
        request, {"detail": _validation_detail(list(exc.errors)), "errors": exc.errors}, status=400
    )


@api.exception_handler(RequestDataTooBig)
def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return api.create_response(request, {"detail": "Request body too large."}, status=413)


@api.exception_handler(SuspiciousOperation)
def on_suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    return api.create_response(request, {"detail": "Bad request."}, status=400)
