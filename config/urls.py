from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import include, path, re_path
from django.views.decorators.cache import cache_control
from django.views.static import serve

from config.api import api
from newsletters.views import metrics
from operations.languages import javascript_catalog
from operations.two_factor_views import two_factor_enrol, two_factor_verify
from operations.views import favicon, healthz


@cache_control(public=True, max_age=7 * 24 * 3600)
def _logo(request: HttpRequest, path: str) -> HttpResponseBase:
    # MEDIA_ROOT looked up per request, not bound at import, so it is always the setting's.
    return serve(request, path, document_root=str(settings.MEDIA_ROOT))


admin.site.site_header = "Newsdesk administration"
admin.site.site_title = "Newsdesk"
admin.site.index_title = "Newsletters, audience and delivery"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Prometheus, behind METRICS_TOKEN (newsletters/metrics.py).
    path("metrics", metrics, name="metrics"),
    path("favicon.ico", favicon, name="favicon"),
    path("api/v1/", api.urls),
    # The signup form's script words in the page's language (operations/languages.py).
    path("jsi18n/<str:language>/", javascript_catalog, name="javascript_catalog"),
    # ESP tracking webhooks (bounces, complaints, unsubscribes): /anymail/<esp>/tracking/.
    path("anymail/", include("newsletters.delivery.webhooks")),
    # Before admin.site.urls, whose catch-all would otherwise claim /admin/outbox/.
    path("admin/outbox/", include("outbox.urls")),
    path("admin/", admin.site.urls),
    # The staff second factor (STAFF_2FA): outside /admin/, which it guards.
    path("account/2fa/verify/", two_factor_verify, name="staff_2fa_verify"),
    path("account/2fa/enrol/", two_factor_enrol, name="staff_2fa_enrol"),
    # Lists' logos (MEDIA_ROOT), linked from mail: served by the app, as whitenoise serves only
    # static files. A new upload gets a new name, so a week's caching is safe.
    re_path(r"^media/(?P<path>logos/.+)$", _logo),
    path("", include("mailinglist.urls")),
    path("", include("newsletters.urls")),
    path("", include("demo.urls")),
]
