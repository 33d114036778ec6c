from django.urls import path

from outbox import views

app_name = "outbox"
urlpatterns = [
    path("", views.message_list, name="list"),
    path("clear/", views.message_clear, name="clear"),
    path("<str:key>/", views.message_detail, name="detail"),
    path("<str:key>/html/", views.message_html, name="html"),
]
