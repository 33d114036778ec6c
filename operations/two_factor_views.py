"""The two pages of the staff second factor: set up an authenticator app, and enter its code.

Both are for a signed-in staff user only (anyone else goes to the admin login), and both lead
back to the admin page the person was going to. Wrong codes are throttled per device by
django-otp (each failure doubles the wait before the next try is even checked).
"""

from __future__ import annotations

from base64 import b32encode
from typing import Any

import django_otp  # type: ignore[import-untyped]
import segno
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice  # type: ignore[import-untyped]

from audit.records import audit_record
from operations.two_factor import is_verified, two_factor_required

WRONG_CODE = _("That code doesn't match. Enter the 6-digit code your app shows now.")
THROTTLED = _("Too many wrong codes. Wait a minute, then enter the code your app shows then.")


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("6-digit code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}
        ),
        error_messages={"required": _("Enter the 6-digit code from your authenticator app.")},
    )

    def clean_code(self) -> str:
        # Apps show the code as "123 456"; people copy it with the space.
        code = "".join(str(self.cleaned_data["code"]).split())
        if len(code) != 6 or not code.isascii() or not code.isdigit():
            raise forms.ValidationError(gettext("Enter the 6 digits your authenticator app shows."))
        return code


def _next_path(request: HttpRequest) -> str:
    """Where to go once the code is given: the page asked for, if it is one of ours."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    is_ours = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return wanted if wanted and is_ours else reverse("admin:index")


def _page(request: HttpRequest, template: str, **context: Any) -> TemplateResponse:
    # A wrong code is answered 200 with the form and its error, as the admin's login answers
    # a wrong password.
    return TemplateResponse(
        request,
        f"admin/two_factor/{template}",
        {**admin.site.each_context(request), "next": _next_path(request), **context},
    )


def _user(request: HttpRequest) -> AbstractBaseUser:
    user = request.user
    assert isinstance(user, AbstractBaseUser)  # staff_member_required let only them in
    return user


def _has_nothing_to_do(user: AbstractBaseUser) -> bool:
    # Not asked (STAFF_2FA, their role), or already past the step in this session.
    return not two_factor_required(user=user) or is_verified(user)


def _to(name: str, request: HttpRequest) -> HttpResponse:
    query = request.GET.urlencode()
    return redirect(f"{reverse(name)}?{query}" if query else reverse(name))


@never_cache
@require_http_methods(["GET", "POST"])
@staff_member_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if _has_nothing_to_do(user):
        return redirect(_next_path(request))
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return _to("staff_2fa_enrol", request)
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        is_allowed, _why = device.verify_is_allowed()
        if not is_allowed:
            form.add_error("code", THROTTLED)
        elif django_otp.verify_token(user, device.persistent_id, form.cleaned_data["code"]):
            django_otp.login(request, device)
            return redirect(_next_path(request))
        else:
            form.add_error("code", WRONG_CODE)
    return _page(request, "verify.html", title=gettext("Enter your code"), form=form)


@never_cache
@require_http_methods(["GET", "POST"])
@staff_member_required
def two_factor_enrol(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if _has_nothing_to_do(user):
        return redirect(_next_path(request))
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        # Adding a second app takes the first one's code: a stolen password alone must not.
        return _to("staff_2fa_verify", request)
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        is_allowed, _why = device.verify_is_allowed()
        if not is_allowed:
            form.add_error("code", THROTTLED)
        elif device.verify_token(form.cleaned_data["code"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            django_otp.login(request, device)
            audit_record(action="two_factor.enrol", request=request, target=device)
            return redirect(_next_path(request))
        else:
            form.add_error("code", WRONG_CODE)
    secret = b32encode(device.bin_key).decode()
    return _page(
        request,
        "enrol.html",
        title=gettext("Set up your second step"),
        form=form,
        policy=settings.STAFF_2FA,
        # The otpauth:// URL authenticator apps scan; OTP_TOTP_ISSUER names the account in them.
        qr_svg=segno.make(device.config_url, error="m").svg_inline(
            scale=5, dark="#1a1a1a", light="#ffffff", border=2
        ),
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    )
