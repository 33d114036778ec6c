"""The newsroom dashboard on the admin home: `{% newsroom_dashboard as dash %}`.

A tag rather than a view because the admin home is AdminSite.index's page: the tag asks the
domain (newsletters.dashboard) what this user may see, and charts.py for the geometry.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from django import template
from django.utils.dates import MONTHS_3, WEEKDAYS_ABBR
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from mailinglist.figures import AudienceDay, ListSize
from newsletters import charts, dashboard

register = template.Library()

_SERIES = (
    # key, label, needs the consent records (else the suppression list)
    ("signups", _("Signups"), True),
    ("confirmations", _("Confirmations"), True),
    ("unsubscribes", _("Unsubscribes"), True),
    ("bounces", _("Hard bounces"), False),
    ("complaints", _("Complaints"), False),
)


@dataclass(frozen=True)
class ListRow:
    size: ListSize
    active_width: float
    pending_width: float


@dataclass(frozen=True)
class DashboardPage:
    data: dashboard.Dashboard
    windows: tuple[int, ...]
    series: list[tuple[str, str]]  # (key, label) the user may see, in the audience table
    audience_chart: charts.LineChart | None
    net_chart: charts.LineChart | None
    list_rows: list[ListRow]
    list_total: int
    audience_rows: SafeString  # <tr>s of the table under the audience chart, newest day first
    net_rows: SafeString  # <tr>s of the table under the net growth chart


def _day_names() -> tuple[list[str], list[str]]:
    """Weekday and month abbreviations in the request's language ("Mon", "Dec" in English), as
    Django's date filter writes them, escaped once: a translation is text, not markup."""
    weekdays: list[str] = [escape(str(WEEKDAYS_ABBR[weekday])) for weekday in range(7)]
    months: list[str] = ["", *(escape(str(MONTHS_3[month]).title()) for month in range(1, 13))]
    return weekdays, months


def _day(day: AudienceDay, names: tuple[list[str], list[str]]) -> str:
    weekdays, months = names
    return f"{weekdays[day.day.weekday()]} {day.day.day} {months[day.day.month]} {day.day.year}"


def _audience_rows(audience: list[AudienceDay], keys: list[str], with_net: bool) -> SafeString:
    # Built here, not with template tags: a year is 365 rows of six cells, and the template
    # engine (or format_html) spent tens of milliseconds on them. Every cell is an int or a
    # date made of numbers and day and month names escaped once (_day_names).
    cells = [*keys, "net"] if with_net else keys
    names = _day_names()
    rows = (
        f'<tr><th scope="row">{_day(day, names)}</th>'
        + "".join(f"<td>{int(getattr(day, key))}</td>" for key in cells)
        + "</tr>"
        for day in reversed(audience)
    )
    return mark_safe("\n".join(rows))  # noqa: S308 - ints and escaped dates, see above


def _net_rows(audience: list[AudienceDay]) -> SafeString:
    running = accumulate(day.net for day in audience)
    names = _day_names()
    rows = (
        f'<tr><th scope="row">{_day(day, names)}</th>'
        f"<td>{int(day.net)}</td><td>{int(total)}</td></tr>"
        for day, total in zip(audience, running, strict=True)
    )
    return mark_safe("\n".join(rows))  # noqa: S308 - ints and escaped dates only


@register.simple_tag(takes_context=True)
def newsroom_dashboard(context: dict[str, Any]) -> DashboardPage | None:
    request = context.get("request")
    if request is None:
        return None
    window = dashboard.window_parse(request.GET.get("window"))
    data = dashboard.dashboard_for(user=request.user, window=window)
    if data is None:
        return None
    series = [
        (key, str(label))  # in the request's language
        for key, label, is_consent in _SERIES
        if (data.shows_consent if is_consent else data.shows_suppression)
    ]
    audience_chart = net_chart = None
    if data.audience is not None:
        days = [day.day for day in data.audience]
        audience_chart = charts.line_chart(
            days=days,
            series=[
                (key, label, [getattr(day, key) for day in data.audience]) for key, label in series
            ],
        )
        if data.shows_consent and data.shows_suppression:
            net_chart = charts.line_chart(
                days=days,
                series=[
                    (
                        "net",
                        gettext("Net growth"),
                        list(accumulate(day.net for day in data.audience)),
                    )
                ],
            )
    largest = max((size.active + size.pending for size in data.lists or []), default=0)
    return DashboardPage(
        data=data,
        windows=dashboard.WINDOWS,
        series=series,
        audience_chart=audience_chart,
        net_chart=net_chart,
        list_rows=[
            ListRow(
                size=size,
                active_width=charts.bar_width(value=size.active, largest=largest),
                pending_width=charts.bar_width(value=size.pending, largest=largest),
            )
            for size in data.lists or []
        ],
        list_total=sum(size.active for size in data.lists or []),
        audience_rows=_audience_rows(
            data.audience or [], [key for key, _ in series], with_net=net_chart is not None
        ),
        net_rows=_net_rows(data.audience or []) if net_chart is not None else mark_safe(""),
    )
