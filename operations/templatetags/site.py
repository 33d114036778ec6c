"""`{% site_name as site_name %}`: the newsroom's name in any template, even one Django renders
with no request (the CSRF failure page, the 500 page), where no context processor runs."""

from __future__ import annotations

from django import template

from operations.site import site_name as _site_name

register = template.Library()


@register.simple_tag
def site_name() -> str:
    return _site_name()
