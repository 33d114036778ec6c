from django.urls import path

from mailinglist import data_views, preference_views, views

app_name = "mailinglist"
urlpatterns = [
    path("subscribe/", views.subscribe, name="subscribe"),
    path("subscribe/thanks/", views.subscribe_thanks, name="subscribe_thanks"),
    path("subscribe/embed/", views.signup_embed_snippet, name="embed"),
    path("subscribe/token/", views.signup_form_token, name="signup_form_token"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("confirm/<str:token>/resend/", views.confirm_resend, name="confirm_resend"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("unsubscribe/<str:token>/undo/", views.unsubscribe_undo, name="unsubscribe_undo"),
    path("preferences/<str:token>/", preference_views.preferences, name="preferences"),
    path(
        "preferences/<str:token>/pause/",
        preference_views.preferences_pause,
        name="preferences_pause",
    ),
    path(
        "preferences/<str:token>/unsubscribe-all/",
        preference_views.preferences_unsubscribe_all,
        name="preferences_unsubscribe_all",
    ),
    path(
        "preferences/<str:token>/address/",
        preference_views.preferences_address,
        name="preferences_address",
    ),
    path(
        "preferences/<str:token>/export/",
        preference_views.preferences_export,
        name="preferences_export",
    ),
    path("address/<str:token>/", preference_views.address_change, name="address_change"),
    path(
        "preferences/<str:token>/erase/",
        preference_views.preferences_erase,
        name="preferences_erase",
    ),
    # The links "Download my data" and "Erase me" mail to the reader (data_links.py).
    path("my-data/export/<str:token>/", data_views.data_export, name="data_export"),
    path(
        "my-data/export/<str:token>/resend/",
        data_views.data_export_resend,
        name="data_export_resend",
    ),
    path("my-data/erase/<str:token>/", data_views.data_erase, name="data_erase"),
    path(
        "my-data/erase/<str:token>/resend/",
        data_views.data_erase_resend,
        name="data_erase_resend",
    ),
]
