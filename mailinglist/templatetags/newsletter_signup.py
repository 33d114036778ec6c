"""`{% load newsletter_signup %}{% newsletter_signup_form %}`: the signup form, for any template.

Drop it into a site's footer; it renders the public lists, the honeypot and the time token, posts
to /subscribe/ without JavaScript and in place with it. It holds nothing per visitor (no CSRF
token, no cookie), so the page around it may be cached and served to everyone.
"""

from __future__ import annotations

from typing import Any

from django import template

from mailinglist.forms import SignupForm
from mailinglist.subscriptions import FORM_CONSENT_TEXT

register = template.Library()


@register.inclusion_tag("mailinglist/_signup_form.html", takes_context=True)
def newsletter_signup_form(
    context: template.Context, heading: str = "Join our mailing list"
) -> dict[str, Any]:
    form = context.get("signup_form")
    return {
        "form": form if isinstance(form, SignupForm) else SignupForm(),
        "heading": heading,
        "consent_text": FORM_CONSENT_TEXT,
        "form_id": "newsletter-signup",
    }
