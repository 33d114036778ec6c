"""What every page and mail says about the newsroom itself."""

from __future__ import annotations

from django.conf import settings


def site_name() -> str:
    return str(settings.SITE_NAME)
