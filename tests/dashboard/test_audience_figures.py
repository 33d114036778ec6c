"""The dashboard's audience figures equal counts taken directly from the tables: the lists' sizes,
the audience per day over each window the dashboard offers, and signups by source page; and each
user sees only the parts of the dashboard they may view."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from mailinglist import figures as audience_figures
from mailinglist.models import ConsentEvent, Subscription, Suppression
from newsletters import dashboard
from tests.dashboard.builders import days_ago, event, suppressed
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
Kind = ConsentEvent.Kind
State = Subscription.State


# --- Lists ---------------------------------------------------------------------------------------


def test_list_sizes_equal_the_subscriptions_in_each_state() -> None:
    morning = MailingListFactory.create(name="The Morning Briefing", slug="morning")
    weekend = MailingListFactory.create(name="Weekend Reads", slug="weekend")
    MailingListFactory.create(name="Empty", slug="empty")
    for n, state in enumerate([State.ACTIVE] * 5 + [State.PENDING] * 2 + [State.UNSUBSCRIBED]):
        SubscriptionFactory.create(mailing_list=morning, state=state)
        if n % 2 == 0:
            SubscriptionFactory.create(mailing_list=weekend, state=state)

    sizes = {size.slug: size for size in audience_figures.list_sizes()}

    assert set(sizes) == {"morning", "weekend", "empty"}
    for slug, size in sizes.items():
        direct = Subscription.objects.filter(mailing_list__slug=slug)
        assert size.active == direct.filter(state=State.ACTIVE).count()
        assert size.pending == direct.filter(state=State.PENDING).count()
        assert size.unsubscribed == direct.filter(state=State.UNSUBSCRIBED).count()
    assert (sizes["morning"].active, sizes["weekend"].active, sizes["empty"].active) == (5, 3, 0)


# --- The audience per day ------------------------------------------------------------------------


def _audience_fixture() -> None:
    reader = SubscriberFactory.create(email="someone@example.com")
    for n, kind in [
        (0, Kind.SIGNUP),
        (0, Kind.SIGNUP),
        (0, Kind.CONFIRM),
        (1, Kind.UNSUBSCRIBE),
        (3, Kind.SIGNUP),
        (3, Kind.CONFIRM),
        (3, Kind.CONFIRM),
        (29, Kind.SIGNUP),  # the oldest day of 30
        (30, Kind.SIGNUP),  # outside 30 days, inside 90
        (89, Kind.CONFIRM),
        (200, Kind.UNSUBSCRIBE),
        (400, Kind.SIGNUP),  # outside every window
        (2, Kind.PREFERENCES),  # not a figure of the dashboard
        (2, Kind.IMPORT),
    ]:
        event(kind, at=days_ago(n), subscriber=reader)
    suppressed("gone@example.com", Suppression.Reason.BOUNCED, at=days_ago(0))
    suppressed("gone2@example.com", Suppression.Reason.BOUNCED, at=days_ago(5))
    suppressed("angry@example.com", Suppression.Reason.COMPLAINED, at=days_ago(5))
    suppressed("erased@example.com", Suppression.Reason.ERASED, at=days_ago(5))
    suppressed("staff@example.com", Suppression.Reason.MANUAL, at=days_ago(5))


def _direct_day(day: Any) -> dict[str, int]:
    events = ConsentEvent.objects.filter(at__date=day)
    suppressions = Suppression.objects.filter(created_at__date=day)
    return {
        "signups": events.filter(kind=Kind.SIGNUP).count(),
        "confirmations": events.filter(kind=Kind.CONFIRM).count(),
        "unsubscribes": events.filter(kind=Kind.UNSUBSCRIBE).count(),
        "bounces": suppressions.filter(reason=Suppression.Reason.BOUNCED).count(),
        "complaints": suppressions.filter(reason=Suppression.Reason.COMPLAINED).count(),
    }


@pytest.mark.parametrize("window", [30, 90, 365])
def test_each_day_of_the_window_equals_the_records_of_that_day(window: int) -> None:
    _audience_fixture()

    days = audience_figures.audience_days(days=window)

    assert len(days) == window
    assert days[-1].day == timezone.localdate()
    assert days[0].day == timezone.localdate() - timedelta(days=window - 1)
    for day in days:
        figures = {name: getattr(day, name) for name in audience_figures.FIGURES}
        assert figures == _direct_day(day.day), day.day
        assert day.net == day.confirmations - day.unsubscribes - day.bounces
    first = days[0].day
    totals = audience_figures.audience_totals(audience=days)
    in_window = ConsentEvent.objects.filter(at__date__gte=first)
    assert totals.signups == in_window.filter(kind=Kind.SIGNUP).count()
    assert totals.confirmations == in_window.filter(kind=Kind.CONFIRM).count()
    assert totals.unsubscribes == in_window.filter(kind=Kind.UNSUBSCRIBE).count()
    assert (
        totals.bounces
        == Suppression.objects.filter(reason="bounced", created_at__date__gte=first).count()
    )


def test_windows_hold_what_they_should() -> None:
    _audience_fixture()

    totals = {
        window: audience_figures.audience_totals(
            audience=audience_figures.audience_days(days=window)
        )
        for window in dashboard.WINDOWS
    }

    assert [totals[w].signups for w in (30, 90, 365)] == [4, 5, 5]
    assert [totals[w].confirmations for w in (30, 90, 365)] == [3, 4, 4]  # 89 days ago is in 90
    assert [totals[w].unsubscribes for w in (30, 90, 365)] == [1, 1, 2]
    assert (totals[30].bounces, totals[30].complaints, totals[30].net) == (2, 1, 0)


def test_a_window_the_dashboard_does_not_offer_falls_back_to_30_days() -> None:
    assert [dashboard.window_parse(raw) for raw in ["90", "365", "30"]] == [90, 365, 30]
    for raw in [None, "", "7", "abc", "-30", "1e9", "30.0"]:
        assert dashboard.window_parse(raw) == dashboard.DEFAULT_WINDOW


def test_past_days_are_counted_once_and_today_every_time(
    django_assert_num_queries: Any,
) -> None:
    _audience_fixture()
    audience_figures.audience_days(days=90)

    # Today only: its consent records and its suppressions.
    with django_assert_num_queries(2):
        again = audience_figures.audience_days(days=90)
    event(Kind.SIGNUP, at=timezone.now())
    moved = audience_figures.audience_days(days=90)

    assert (
        moved[-1].signups == again[-1].signups + 1 == _direct_day(timezone.localdate())["signups"]
    )


# --- Signups by source page ----------------------------------------------------------------------


def test_signups_by_page_equal_the_signup_records_of_each_page() -> None:
    page = "https://news.example.com/2026/harbour-park"
    for n, url in enumerate(
        [page, page + "?utm_source=twitter", page + "#footer", "https://news.example.com/rail", ""]
    ):
        event(Kind.SIGNUP, at=days_ago(n % 3), source_url=url)
    event(Kind.SIGNUP, at=days_ago(45), source_url="https://news.example.com/rail")
    event(Kind.CONFIRM, at=days_ago(1), source_url=page)  # not a signup

    sources = {row.source: row.signups for row in audience_figures.signups_by_source(days=30)}

    signups = ConsentEvent.objects.filter(kind=Kind.SIGNUP, at__gte=days_ago(29, hour=0))
    assert sources == {
        page: signups.filter(source_url__startswith=page).count(),
        "https://news.example.com/rail": signups.filter(source_url__endswith="/rail").count(),
        "": signups.filter(source_url="").count(),
    }
    assert sources == {page: 3, "https://news.example.com/rail": 1, "": 1}
    assert audience_figures.signups_by_source(days=90)[1].signups == 2  # the older one counts there


# --- Who sees what -------------------------------------------------------------------------------


def test_a_user_sees_only_the_parts_they_may_view(viewer: Any, digest_only: Any) -> None:
    _audience_fixture()

    everything = dashboard.dashboard_for(user=viewer, window=30)
    digests = dashboard.dashboard_for(user=digest_only, window=30)

    assert everything is not None and digests is not None
    assert everything.lists is not None and everything.audience is not None
    assert everything.sources is not None and everything.next_editions is not None
    assert (digests.lists, digests.audience, digests.sources, digests.next_editions) == (
        None,
        None,
        None,
        None,
    )
    assert not (digests.shows_consent or digests.shows_suppression)
    assert dashboard.dashboard_for(user=AnonymousUser(), window=30) is None
