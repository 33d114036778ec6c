"""Forms for the reader-facing pages; the API validates through the same SignupForm."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from mailinglist import protection
from mailinglist.addresses import MAX_EMAIL_LENGTH, MAX_NAME_LENGTH, email_normalise, name_clean
from mailinglist.models import MailingList
from mailinglist.preferences import MAX_PAUSE_WEEKS
from mailinglist.public_lists import public_lists


class SignupForm(forms.Form):
    """Email, optional name, the lists to join; plus the honeypot and time-token fields."""

    email = forms.CharField(
        label=_("Email address"),
        # A little over the limit, so an over-long address gets our message, not a silent cut.
        max_length=MAX_EMAIL_LENGTH * 4,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.com"}),
    )
    name = forms.CharField(
        label=_("Your name (optional)"),
        required=False,
        max_length=MAX_NAME_LENGTH * 4,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    lists = forms.MultipleChoiceField(
        label=_("Newsletters"), widget=forms.CheckboxSelectMultiple, required=True
    )
    # Bots fill every field; people never see this one (hidden by CSS and from screen readers).
    website = forms.CharField(required=False, max_length=1000)
    form_token = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    # Sent by the one-more-step button (a fast or token-less form): proof that a person pressed it.
    step_token = forms.CharField(required=False, max_length=300, widget=forms.HiddenInput)

    error_messages = {"lists_required": _("Pick at least one newsletter.")}

    def __init__(self, *args: Any, available: list[MailingList] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.available = public_lists() if available is None else available
        field = self.fields["lists"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(m.slug, m.name) for m in self.available]
        field.error_messages["required"] = _("Pick at least one newsletter.")
        field.error_messages["invalid_choice"] = _("%(value)s is not one of our newsletters.")
        if not self.is_bound:
            self.initial.setdefault(
                "lists", [m.slug for m in self.available if m.is_default_checked]
            )
            self.initial.setdefault("form_token", protection.form_token_make())

    def clean_email(self) -> str:
        return email_normalise(self.cleaned_data["email"])

    def clean_name(self) -> str:
        return name_clean(self.cleaned_data.get("name"))


class PreferencesForm(forms.Form):
    name = forms.CharField(label=_("Your name"), required=False, max_length=MAX_NAME_LENGTH * 4)
    lists = forms.MultipleChoiceField(
        label=_("Newsletters you get"), widget=forms.CheckboxSelectMultiple, required=False
    )

    def __init__(self, *args: Any, list_choices: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["lists"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = list_choices

    def clean_name(self) -> str:
        return name_clean(self.cleaned_data.get("name"))


def _weeks_now(count: int) -> str:
    return ngettext("%(count)d week", "%(count)d weeks", count) % {"count": count}


# Lazy: the choices are made once, at import, and each reader reads them in their language.
_weeks = lazy(_weeks_now, str)


class PauseForm(forms.Form):
    # Only lengths of a pause: the choice shown first is what the "Pause" button does. Resuming
    # early is a button of its own, shown while paused.
    weeks = forms.TypedChoiceField(
        label=_("Pause all newsletters for"),
        coerce=int,
        choices=[(n, _weeks(n)) for n in (1, 2, 4, 8, MAX_PAUSE_WEEKS)],
        initial=2,
    )


class AddressChangeForm(forms.Form):
    email = forms.CharField(
        label=_("New email address"),
        max_length=MAX_EMAIL_LENGTH * 4,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def __init__(self, *args: Any, current_email: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.current_email = current_email

    def clean_email(self) -> str:
        email = email_normalise(self.cleaned_data["email"])
        if email.lower() == self.current_email.lower():
            raise forms.ValidationError(_("That's already your address."))
        return email


class EraseForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("Yes, delete everything you hold about me"),
        error_messages={"required": _("Tick the box to confirm you want everything deleted.")},
    )


def form_errors_json(form: forms.Form) -> dict[str, list[str]]:
    """Field errors as plain text, for JSON answers."""
    return {field: [str(message) for message in errors] for field, errors in form.errors.items()}
