"""The send desk's two forms (newsletters/admin/digest_desk.py): when to send, and to whom a
test copy goes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from mailinglist.zones import zone_choices, zone_or_utc


class ScheduleForm(forms.Form):
    send_at = forms.DateTimeField(
        label=_("Send at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        error_messages={"required": _("Pick a date and time to send at.")},
    )
    zone = forms.ChoiceField(label=_("Timezone"), choices=zone_choices)

    def send_at_aware(self) -> Any:
        value = self.cleaned_data["send_at"]
        naive = timezone.make_naive(value) if timezone.is_aware(value) else value
        return naive.replace(tzinfo=zone_or_utc(self.cleaned_data["zone"]))


class TestSendForm(forms.Form):
    to = forms.ChoiceField(choices=[("me", _("me")), ("seed", _("the list's seed list"))])


def first_error(form: forms.Form) -> str:
    """The first thing wrong with `form`, for the desk's one-line message."""
    for errors in form.errors.values():
        return str(errors[0])
    return gettext("Check the form.")
