from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from config.api import api
from operations.views import healthz

admin.site.site_header = "Newsdesk administration"
admin.site.site_title = "Newsdesk"
admin.site.index_title = "Newsletters, audience and delivery"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Browsers ask for /favicon.ico on every page that names no icon; a 404 there is noise in
    # every console (and in the browser tests' check for script errors).
    path("favicon.ico", RedirectView.as_view(url=static("operations/favicon.svg"), permanent=True)),
    path("api/v1/", api.urls),
    # ESP tracking webhooks (bounces, complaints, unsubscribes): /anymail/<esp>/tracking/.
    path("anymail/", include("newsletters.webhooks")),
    # Before admin.site.urls, whose catch-all would otherwise claim /admin/outbox/.
    path("admin/outbox/", include("outbox.urls")),
    path("admin/", admin.site.urls),
    path("", include("mailinglist.urls")),
    path("", include("newsletters.urls")),
    path("", include("demo.urls")),
]
