from django.contrib import admin
from django.urls import include, path

from config.api import api
from operations.views import favicon, healthz

admin.site.site_header = "Newsdesk administration"
admin.site.site_title = "Newsdesk"
admin.site.index_title = "Newsletters, audience and delivery"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("api/v1/", api.urls),
    # ESP tracking webhooks (bounces, complaints, unsubscribes): /anymail/<esp>/tracking/.
    path("anymail/", include("newsletters.delivery.webhooks")),
    # Before admin.site.urls, whose catch-all would otherwise claim /admin/outbox/.
    path("admin/outbox/", include("outbox.urls")),
    path("admin/", admin.site.urls),
    path("", include("mailinglist.urls")),
    path("", include("newsletters.urls")),
    path("", include("demo.urls")),
]
