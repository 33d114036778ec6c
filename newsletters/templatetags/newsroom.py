"""The newsroom dashboard on the admin home: `{% newsroom_dashboard as dash %}`.

A tag rather than a view because the admin home is AdminSite.index's page: the tag asks the
domain (newsletters.dashboard) what this user may see, and charts.py for the geometry.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from mailinglist.figures import AudienceDay, ListSize
from newsletters import charts, dashboard

register = template.Library()

_SERIES = (
    # key, label, needs the consent records (else the suppression list)
    ("signups", "Signups", True),
    ("confirmations", "Confirmations", True),
    ("unsubscribes", "Unsubscribes", True),
    ("bounces", "Hard bounces", False),
    ("complaints", "Complaints", False),
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


def _day(day: AudienceDay) -> str:
    return f"{day.day:%a} {day.day.day} {day.day:%b %Y}"


def _audience_rows(audience: list[AudienceDay], keys: list[str], with_net: bool) -> SafeString:
    # Built here, not with template tags: a year is 365 rows of six cells, and the template
    # engine (or format_html) spent tens of milliseconds on them. Every cell is an int or a
    # date written by strftime, so there is nothing to escape.
    cells = [*keys, "net"] if with_net else keys
    rows = (
        f'<tr><th scope="row">{_day(day)}</th>'
        + "".join(f"<td>{int(getattr(day, key))}</td>" for key in cells)
        + "</tr>"
        for day in reversed(audience)
    )
    return mark_safe("\n".join(rows))  # noqa: S308 - ints and dates only, see above


def _net_rows(audience: list[AudienceDay]) -> SafeString:
    running = accumulate(day.net for day in audience)
    rows = (
        f'<tr><th scope="row">{_day(day)}</th><td>{int(day.net)}</td><td>{int(total)}</td></tr>'
        for day, total in zip(audience, running, strict=True)
    )
    return mark_safe("\n".join(rows))  # noqa: S308 - ints and dates only


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
        (key, label)
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
                series=[("net", "Net growth", list(accumulate(day.net for day in data.audience)))],
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
