"""Admin addresses and a changelist reader shared by the subscriber admin tests."""

from __future__ import annotations

SUBSCRIBERS = "/admin/mailinglist/subscriber/"
EXPORT = "/admin/mailinglist/subscriber/export/"


def emails_in(response) -> set[str]:
    """The addresses on the changelist page a response rendered."""
    return {subscriber.email for subscriber in response.context["cl"].result_list}
