"""The product's URLs plus /bench/bare/: a POST through the same middleware that does nothing.

The bare view keeps CSRF protection (it is not exempt), so both endpoints pay for the same
middleware, cookie and form parsing; the difference between them is the signup itself.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as product_urlpatterns


@require_POST
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/bare/", bare, name="bench_bare"), *product_urlpatterns]
