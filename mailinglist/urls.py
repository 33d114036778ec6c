from django.urls import path

from mailinglist import views

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
    path("preferences/<str:token>/", views.preferences, name="preferences"),
    path("preferences/<str:token>/pause/", views.preferences_pause, name="preferences_pause"),
    path(
        "preferences/<str:token>/unsubscribe-all/",
        views.preferences_unsubscribe_all,
        name="preferences_unsubscribe_all",
    ),
    path("preferences/<str:token>/address/", views.preferences_address, name="preferences_address"),
    path("preferences/<str:token>/export/", views.preferences_export, name="preferences_export"),
    path("address/<str:token>/", views.address_change, name="address_change"),
    path("preferences/<str:token>/erase/", views.preferences_erase, name="preferences_erase"),
]
