from __future__ import annotations

from django.http import HttpRequest, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from operations.health import health_report


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database, Redis and at least one worker are up; 503 otherwise."""
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


@require_GET
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico on every page that names no icon; a 404 there is noise in
    every console. Resolved per request: in production the static name carries a hash that only
    exists once collectstatic has run, so it cannot be looked up when URLs are imported."""
    return HttpResponsePermanentRedirect(static("operations/favicon.svg"))
