"""The subscriber list's filters by subscription: list, state and source, matched together."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from mailinglist.models import MailingList, Subscription

State = Subscription.State


class _SubscriptionFilter(admin.SimpleListFilter):
    """Filters that, together, match one subscription: "active on daily", not "active somewhere
    and on daily in some state", which is what separate lookups across a relation would mean.

    The first filter in use applies all of them in one EXISTS; the others then do nothing.
    """

    lookup: str = ""

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        chosen = subscription_filter_values(request)
        if not chosen or next(iter(chosen)) != self.parameter_name:
            return queryset
        lookups = {LOOKUPS[name]: value for name, value in chosen.items()}
        return queryset.filter(
            Exists(Subscription.objects.filter(subscriber=OuterRef("pk"), **lookups))
        )


class SubscriptionListFilter(_SubscriptionFilter):
    title = _("mailing list")
    parameter_name = "list"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(MailingList.objects.order_by("name").values_list("slug", "name"))


class SubscriptionStateFilter(_SubscriptionFilter):
    title = _("subscription state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in State.choices]


class SubscriptionSourceFilter(_SubscriptionFilter):
    title = _("subscription source")
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in Subscription.Source.choices]


LOOKUPS = {"list": "mailing_list__slug", "state": "state", "source": "source"}
_VALID = {
    "state": set(State.values),
    "source": set(Subscription.Source.values),
}


def subscription_filter_values(request: HttpRequest) -> dict[str, str]:
    """The subscription filters in use, in a fixed order; unknown values are left out."""
    chosen: dict[str, str] = {}
    for name in LOOKUPS:
        value = request.GET.get(name)
        if value and (name not in _VALID or value in _VALID[name]):
            chosen[name] = value
    return chosen
