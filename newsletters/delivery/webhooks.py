"""django-anymail's tracking webhooks, mounted at /anymail/<esp>/tracking/, with clear answers.

anymail's views parse each ESP's payload and send `anymail.signals.tracking` (applied by
tracking.py). Left alone they answer a malformed body or a misconfigured ESP with a 500, which
an ESP takes as "try again" forever; here every outcome is one JSON answer an ESP and an operator
can act on:
- no ANYMAIL_WEBHOOK_SECRET set → 403: nobody may post fabricated bounces and complaints;
- missing or wrong basic auth (or ESP signature) → 401;
- a body that is not that ESP's tracking payload → 400 (the ESP stops retrying it);
- an ESP this deployment has no settings for (Mailgun's signing key, ...) → 404;
- the database unavailable → 503, so the ESP retries later; applying events is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.urls import urlpatterns as anymail_urlpatterns
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)
# Only the ESPs EMAIL_URL can name (settings.ESP_NAMES), and only their tracking views: inbound
# mail is not something this product receives.
TRACKING_URL_NAMES = {f"{scheme}_tracking_webhook" for scheme in settings.ESP_NAMES}


class MalformedWebhook(Exception):
    """The body is not a tracking payload of this ESP; says what anymail found wrong."""


class _Guard:
    """Mixed into each anymail tracking view: parse errors become MalformedWebhook."""

    def run_validators(self, request: HttpRequest) -> None:
        try:
            super().run_validators(request)  # type: ignore[misc]
        except (AnymailWebhookValidationFailure, ImproperlyConfigured):
            raise
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as error:
            raise MalformedWebhook(str(error)) from error

    def parse_events(self, request: HttpRequest) -> list[Any]:
        try:
            return list(super().parse_events(request))  # type: ignore[misc]
        except (
            ValueError,  # not JSON, not UTF-8, not an address, not a number
            TypeError,
            KeyError,
            AttributeError,
            IndexError,
            ImproperlyConfigured,  # anymail's "this looks like an inbound payload"
        ) as error:
            raise MalformedWebhook(str(error) or type(error).__name__) from error


def _detail(status: int, detail: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _guarded(pattern: URLPattern) -> URLPattern:
    view_class = pattern.callback.view_class  # type: ignore[attr-defined]
    esp_name = str(view_class.esp_name)
    guarded_class: Any = type(f"Guarded{view_class.__name__}", (_Guard, view_class), {})
    view: Callable[..., HttpResponse] = guarded_class.as_view()

    @csrf_exempt
    def webhook(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
            return _detail(403, "Tracking webhooks are off: set ANYMAIL_WEBHOOK_SECRET.")
        try:
            response = view(request, *args, **kwargs)
        except AnymailWebhookValidationFailure as failure:
            logger.warning("%s webhook refused: %s", esp_name, failure)
            return _detail(
                401,
                "Missing or wrong credentials for this webhook.",
                **{"WWW-Authenticate": 'Basic realm="anymail"'},
            )
        except MalformedWebhook as error:
            logger.warning("%s webhook: malformed payload: %s", esp_name, error)
            return _detail(400, f"Not a {esp_name} tracking payload: {error}"[:300])
        except ImproperlyConfigured as error:
            logger.warning("%s webhook called but not configured: %s", esp_name, error)
            return _detail(404, f"No {esp_name} tracking webhook is configured here.")
        except DatabaseError:
            logger.exception("%s webhook: database unavailable", esp_name)
            return _detail(503, "Temporarily unavailable; try again later.")
        if response.status_code == 405:
            return _detail(405, "Use POST.", Allow=response.get("Allow", "POST"))
        return response

    return URLPattern(pattern.pattern, webhook, pattern.default_args, pattern.name)


urlpatterns = [
    _guarded(pattern)
    for pattern in anymail_urlpatterns
    if isinstance(pattern, URLPattern) and pattern.name in TRACKING_URL_NAMES
]
app_name = "anymail"
