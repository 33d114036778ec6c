"""The signup's fields read without building a Django Form, for the happy path only.

A SignupForm costs more than the rest of a signup POST's own work: building it deep-copies its six
fields and their widgets, and cleaning runs each through the field machinery. Nearly every POST
is a valid one, so signup_fields_read applies the same rules as SignupForm directly and returns
the values the form's cleaned_data would hold; for anything it would refuse (a missing or bad
address, a list that is not offered, an over-long or NUL-carrying field, a value of a type a
form never gets from a browser) it returns None, and the caller builds the Form, whose errors
the reader sees exactly as before. So this can only ever take the form's answer for valid input,
never make one of its own (tests/mailinglist/test_signup_fields.py compares the two on generated
input).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.core.exceptions import ValidationError

from mailinglist.addresses import email_normalise, name_clean
from mailinglist.forms import SignupForm

# Each text field's max_length as SignupForm declares it (read from it: they cannot drift).
_MAX_LENGTHS: dict[str, int] = {
    name: int(getattr(SignupForm.base_fields[name], "max_length", 0))
    for name in ("email", "name", "website", "form_token", "step_token")
}


def signup_fields_read(
    data: Mapping[str, Any], *, offered: Collection[str]
) -> dict[str, Any] | None:
    """SignupForm(data).cleaned_data when the form would accept `data`; else None.

    `offered`: the slugs of the lists the form offers (public_lists.public_list_slugs()).
    """
    cleaned: dict[str, Any] = {}
    for name, max_length in _MAX_LENGTHS.items():
        value = _text(data.get(name), max_length=max_length)
        if value is None:
            return None
        cleaned[name] = value
    if not cleaned["email"]:  # required
        return None
    try:
        cleaned["email"] = email_normalise(cleaned["email"])
    except ValidationError:
        return None
    cleaned["name"] = name_clean(cleaned["name"])
    # CheckboxSelectMultiple reads every value of a QueryDict, and the value itself from a dict.
    getlist = getattr(data, "getlist", None)
    chosen = getlist("lists") if callable(getlist) else data.get("lists")
    if not isinstance(chosen, list | tuple) or not chosen:  # required: at least one
        return None
    if not all(isinstance(slug, str) and slug in offered for slug in chosen):
        return None
    cleaned["lists"] = list(chosen)  # duplicates kept, as the form keeps them
    return cleaned


def _text(value: object, *, max_length: int) -> str | None:
    """What a CharField(strip=True) cleans `value` to, or None where it would refuse it (or
    where the value is not text, which only a program sends: the form then decides)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) > max_length or "\x00" in text:
        return None
    return text
