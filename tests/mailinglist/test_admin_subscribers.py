"""The list and subscriber admin pages: counts, filters, search, the read-only subscriber page."""

from __future__ import annotations

from django.test import Client

from mailinglist.models import ConsentEvent, MailingList, Subscription
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.mailinglist.admin_helpers import EXPORT, SUBSCRIBERS, emails_in

State = Subscription.State


# --- Lists -------------------------------------------------------------------------------------


def test_the_list_admin_counts_active_and_pending_subscribers_in_one_query(
    staff: Client, daily: MailingList, weekly: MailingList, django_assert_max_num_queries
) -> None:
    SubscriptionFactory.create_batch(3, mailing_list=daily, state=State.ACTIVE)
    SubscriptionFactory.create_batch(2, mailing_list=daily, state=State.PENDING)
    SubscriptionFactory.create(mailing_list=daily, state=State.UNSUBSCRIBED)
    SubscriptionFactory.create(mailing_list=weekly, state=State.PENDING)
    MailingListFactory.create_batch(5)  # more rows must not mean more queries

    with django_assert_max_num_queries(12):
        response = staff.get("/admin/mailinglist/mailinglist/")

    assert response.status_code == 200
    counts = {m.slug: (m.active_count, m.pending_count) for m in response.context["cl"].result_list}
    assert counts["daily"] == (3, 2)
    assert counts["weekly"] == (0, 1)


def test_adding_a_list_prefills_its_slug_from_the_name(staff: Client, db: None) -> None:
    response = staff.get("/admin/mailinglist/mailinglist/add/")

    assert response.status_code == 200
    assert response.context["adminform"].prepopulated_fields[0]["field"].name == "slug"


# --- Subscribers: list, filters, search, page --------------------------------------------------


def test_subscription_filters_match_one_subscription_together(
    staff: Client, daily: MailingList, weekly: MailingList
) -> None:
    active_daily = SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE).subscriber
    # Active somewhere and on daily, but not active on daily: must not match "active on daily".
    mixed = SubscriberFactory.create()
    SubscriptionFactory.create(subscriber=mixed, mailing_list=daily, state=State.PENDING)
    SubscriptionFactory.create(subscriber=mixed, mailing_list=weekly, state=State.ACTIVE)
    imported = SubscriptionFactory.create(
        mailing_list=weekly, state=State.ACTIVE, source=Subscription.Source.IMPORT
    ).subscriber

    assert emails_in(staff.get(SUBSCRIBERS, {"list": "daily", "state": "active"})) == {
        active_daily.email
    }
    assert emails_in(staff.get(SUBSCRIBERS, {"state": "pending"})) == {mixed.email}
    assert emails_in(staff.get(SUBSCRIBERS, {"list": "weekly"})) == {mixed.email, imported.email}
    assert emails_in(staff.get(SUBSCRIBERS, {"source": "import"})) == {imported.email}
    assert emails_in(staff.get(SUBSCRIBERS, {"state": "nonsense"})) == {
        active_daily.email,
        mixed.email,
        imported.email,
    }


def test_search_and_the_date_filter_narrow_the_list(staff: Client, daily: MailingList) -> None:
    ada = SubscriberFactory.create(email="ada@example.com", name="Ada Lovelace")
    SubscriberFactory.create(email="bob@example.com", name="Bob")

    assert emails_in(staff.get(SUBSCRIBERS, {"q": "lovelace"})) == {ada.email}
    assert emails_in(staff.get(SUBSCRIBERS, {"q": "ADA@"})) == {ada.email}
    dated = staff.get(
        SUBSCRIBERS,
        {
            "created_at__gte": "2000-01-01 00:00:00+00:00",
            "created_at__lt": "2999-01-01 00:00:00+00:00",
        },
    )
    assert emails_in(dated) == {"ada@example.com", "bob@example.com"}
    assert (
        emails_in(staff.get(SUBSCRIBERS, {"created_at__gte": "2999-01-01 00:00:00+00:00"})) == set()
    )


def test_the_changelist_renders_filters_buttons_and_escapes_subscriber_data(
    staff: Client, daily: MailingList
) -> None:
    SubscriptionFactory.create(
        mailing_list=daily, subscriber__name="<script>alert(1)</script>", state=State.ACTIVE
    )

    response = staff.get(SUBSCRIBERS, {"list": "daily", "q": "example"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for title in ("subscription state", "mailing list", "subscription source", "created at"):
        assert f"By {title}" in html
    assert 'href="/admin/mailinglist/subscriber/import/"' in html
    assert f'href="{EXPORT}?list=daily&amp;q=example"' in html
    assert "delete_selected" not in html
    assert "erase_selected" in html


def test_the_subscriber_page_shows_subscriptions_and_history_read_only(
    staff: Client, daily: MailingList
) -> None:
    subscription = SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE)
    subscriber = subscription.subscriber
    ConsentEvent.objects.create(
        subscriber=subscriber, kind=ConsentEvent.Kind.SIGNUP, lists=["daily"], ip="203.0.113.9"
    )

    response = staff.get(f"{SUBSCRIBERS}{subscriber.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "203.0.113.9" in html
    assert "Consent history" in html
    for formset in response.context["inline_admin_formsets"]:
        assert not formset.has_add_permission
        assert not formset.has_change_permission
        assert not formset.has_delete_permission
    assert staff.get(f"{SUBSCRIBERS}add/").status_code == 403
    assert staff.get(f"{SUBSCRIBERS}{subscriber.pk}/delete/").status_code == 403


def test_editing_a_name_cleans_it(staff: Client, daily: MailingList) -> None:
    subscriber = SubscriberFactory.create(name="Old")

    response = staff.post(
        f"{SUBSCRIBERS}{subscriber.pk}/change/",
        {
            "name": "  New\r\nName ",
            "subscriptions-TOTAL_FORMS": "0",
            "subscriptions-INITIAL_FORMS": "0",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    subscriber.refresh_from_db()
    assert subscriber.name == "New Name"
