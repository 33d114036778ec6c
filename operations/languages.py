"""The language a page answers in when a list's mail links to it.

Pages follow the reader's own choice (LocaleMiddleware: the language cookie, then
Accept-Language). Links in a list's mail add `?lang=<the list's language>` (DESIGN.md §3
"Languages"): a reader of an Arabic list lands on Arabic pages whatever their browser says. The
choice is kept in Django's language cookie, so the forms on those pages, which post to URLs
without the parameter, and the redirects after them answer in it too.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET
from django.views.i18n import JavaScriptCatalog

LANGUAGE_PARAM = "lang"


def language_read(raw: str | None) -> str | None:
    """The supported language `raw` names (`ar`, `fr-CA` → `fr`), or None."""
    if not raw or len(raw) > 16:
        return None
    try:
        return translation.get_supported_language_variant(raw.strip().lower())
    except LookupError:
        return None


def language_direction(language: str) -> str:
    """`rtl` or `ltr`, for a `dir` attribute."""
    return "rtl" if translation.get_language_info(language)["bidi"] else "ltr"


class LinkLanguageMiddleware:
    """After LocaleMiddleware: `?lang=` wins for this answer and is remembered in the cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = language_read(request.GET.get(LANGUAGE_PARAM))
        if language is not None:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        response = self.get_response(request)
        if language is not None:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                max_age=settings.LANGUAGE_COOKIE_AGE or 365 * 24 * 3600,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        if language is not None or settings.LANGUAGE_COOKIE_NAME in request.COOKIES:
            # The answer then depends on more than Accept-Language: a shared cache must not hand
            # it to a reader who has no such cookie (LocaleMiddleware only names Accept-Language).
            patch_vary_headers(response, ("Cookie",))
        return response


_catalog_view = JavaScriptCatalog.as_view(packages=["mailinglist"])


@require_GET
@cache_control(public=True, max_age=24 * 3600)
def javascript_catalog(request: HttpRequest, language: str) -> HttpResponseBase:
    """Django's JavaScript catalogue in `language`, named in the URL: the form's page says which
    language it is in, and a cache keeps one copy per language without varying on headers."""
    chosen = language_read(language)
    if chosen is None or chosen != language:
        raise Http404("No such language.")
    with translation.override(chosen):
        return _catalog_view(request)
