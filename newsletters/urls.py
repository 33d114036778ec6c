from django.urls import path

from newsletters import views

app_name = "newsletters"
urlpatterns = [
    path("archive/", views.archive_list, name="archive_list"),
    path("archive/feed/", views.ArchiveFeed(), name="archive_feed"),
    path("archive/<int:pk>/", views.archive_detail, name="archive_detail"),
]
