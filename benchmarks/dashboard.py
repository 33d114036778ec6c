"""Dashboard benchmark: the admin home's server time at a million readers and a thousand digests.

`python -m benchmarks.dashboard [--subscribers 1000000] [--digests 1000] [--renders 7]`, with a
Redis at REDIS_URL (`make bench` runs it under `devtools.with_redis --db 14`) and a fresh SQLite
file, or with BENCH_DATABASE_URL (else DATABASE_URL) = postgres://… a database of its own on that
server (created, then dropped).

The data, inserted set-based (INSERT … SELECT over a generated series, no row built in Python):
- N subscribers who joined over three years, each with a signup record (the page they signed up
  on: 500 articles, some with utm query strings) and, unless pending, a confirmation; three lists
  (all N, a third, a tenth), 3 % pending and 7 % unsubscribed (each with its record);
- suppressions: N/100 old hard bounces, and this week's bounces and complaints below;
- D digests, one a day: all but the last ten reduced to counts by retention (`retained_counts`);
  the last ten with their whole ledger (a row per active reader of their list: 0.3 % failed of
  which a third hard bounces, suppressed; 0.02 % complaints noted by the ESP; 0.1 % unsubscribed
  through the digest's link; a few possible duplicates);
- two recurring editions and three scheduled digests.

Then the admin home is rendered through Django's test client as a superuser, DEBUG off: once
with an empty cache (the first render after midnight, or after Redis was flushed) and then
`--renders` times, for each window (30, 90, 365 days). A digest's report page (the largest
ledger) is rendered the same way. One JSON line per figure (benchmarks/report.py); progress on
stderr.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks import send_setup
from benchmarks.report import figure

TARGET_MS = 300.0
LEDGER_DIGESTS = 10
ARTICLES = 500


def _log(message: str) -> None:
    print(f"[dashboard] {message}", file=sys.stderr, flush=True)


# --- Vendor SQL ----------------------------------------------------------------------------------


class _Sql:
    """The few expressions that differ between PostgreSQL and SQLite."""

    def __init__(self) -> None:
        from django.db import connection

        self.vendor = connection.vendor
        self.base = send_setup._sql()  # series, public_id, hash, now

    def ago(self, days: str, seconds: str = "0") -> str:
        """now minus `days` days and `seconds` seconds (SQL integer expressions)."""
        if self.vendor == "postgresql":
            return f"(now() - make_interval(days => ({days})::int, secs => ({seconds})::int))"
        return (
            f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-' || ({days}) || ' days', "
            f"'-' || ({seconds}) || ' seconds')"
        )

    def plus_minutes(self, moment: str, minutes: str) -> str:
        if self.vendor == "postgresql":
            return f"({moment} + make_interval(mins => ({minutes})::int))"
        return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', {moment}, '+' || ({minutes}) || ' minutes')"

    def halfway_to_now(self, moment: str) -> str:
        if self.vendor == "postgresql":
            return f"({moment} + (now() - {moment}) / 2)"
        return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', (julianday({moment}) + julianday('now')) / 2)"

    def json(self, text: str) -> str:
        return f"({text})::jsonb" if self.vendor == "postgresql" else text

    def text(self, number: str) -> str:
        return f"({number})::text" if self.vendor == "postgresql" else f"({number})"


def _execute(sql: str, params: list[Any] | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return int(cursor.rowcount)


def _insert(
    model: Any, columns: dict[str, str], source: str, params: list[Any] | None = None
) -> int:
    """send_setup's INSERT … SELECT, with '' for blank text fields it is not told about.

    Other work adds such fields (a digest's send zone, say); the bench should not break on them.
    """
    from django.db import models
    from django.db.models import NOT_PROVIDED

    filled = dict(columns)
    for field in model._meta.concrete_fields:
        if (
            field.column not in filled
            and isinstance(field, models.CharField | models.TextField)
            and field.blank
            and field.default is NOT_PROVIDED
            and not field.null
        ):
            filled[field.column] = "''"
    return send_setup._insert_select(model, columns=filled, source=source, params=params or [])


# --- Data ----------------------------------------------------------------------------------------


def audience_create(*, n: int) -> dict[str, int]:
    """N subscribers over three years, their subscriptions to three lists and consent records."""
    from django.db import transaction

    from mailinglist.models import ConsentEvent, MailingList, Subscriber, Subscription, Suppression

    sql = _Sql()
    lists = {
        slug: MailingList.objects.create(name=name, slug=slug).pk
        for slug, name in [
            ("morning", "The Morning Briefing"),
            ("weekend", "Weekend Reads"),
            ("breaking", "Breaking News"),
        ]
    }
    email = "'reader' || n || '@example.com'"
    with transaction.atomic():
        _insert(
            Subscriber,
            {
                "email": email,
                "email_hash": sql.base["hash"].format(email),
                "name": "'Reader ' || n",
                "public_id": sql.base["public_id"],
                "created_at": sql.ago("n %% 1095", "n %% 86400"),
            },
            sql.base["series"],
            [n],
        )
    subscribers = Subscriber._meta.db_table
    state = (
        "CASE WHEN r.id %% 100 < 3 THEN 'pending' WHEN r.id %% 100 < 10 THEN 'unsubscribed' "
        "ELSE 'active' END"
    )
    for slug, where in [
        ("morning", "1 = 1"),
        ("weekend", "r.id %% 3 = 0"),
        ("breaking", "r.id %% 10 = 1"),
    ]:
        with transaction.atomic():
            _insert(
                Subscription,
                {
                    "subscriber_id": "r.id",
                    "mailing_list_id": str(lists[slug]),
                    "state": state,
                    "source": "'form'",
                    "created_at": "r.created_at",
                    "requested_at": "r.created_at",
                    "confirmed_at": "CASE WHEN r.id %% 100 < 3 THEN NULL ELSE r.created_at END",
                    "unsubscribed_at": (
                        f"CASE WHEN r.id %% 100 >= 3 AND r.id %% 100 < 10 "
                        f"THEN {sql.halfway_to_now('r.created_at')} END"
                    ),
                },
                f"{subscribers} r WHERE {where}",
            )
    page = (
        "'https://news.example.com/2026/article-' || "
        f"{sql.text('(r.id %% 37) * (r.id %% 13) %% ' + str(ARTICLES))}"
    )
    events = {
        # Every reader signed up on an article page (a tenth through a tagged link).
        "signup": _insert(
            ConsentEvent,
            {
                "subscriber_id": "r.id",
                "email_hash": "''",
                "kind": "'signup'",
                "lists": sql.json("'[\"morning\"]'"),
                "at": "r.created_at",
                "user_agent": "'Mozilla/5.0'",
                "source_url": f"CASE WHEN r.id %% 10 = 0 THEN {page} || '?utm_source=social' "
                f"ELSE {page} END",
                "form_version": "'v1'",
                "detail": sql.json('\'{"source": "form", "new_subscriber": true}\''),
            },
            f"{subscribers} r",
        ),
        "confirm": _insert(
            ConsentEvent,
            {
                "subscriber_id": "r.id",
                "email_hash": "''",
                "kind": "'confirm'",
                "lists": sql.json("'[\"morning\"]'"),
                "at": sql.plus_minutes("r.created_at", "10"),
                "user_agent": "'Mozilla/5.0'",
                "source_url": "''",
                "form_version": "''",
                "detail": sql.json("'{}'"),
            },
            f"{subscribers} r WHERE r.id %% 100 >= 3",
        ),
        "unsubscribe": _insert(
            ConsentEvent,
            {
                "subscriber_id": "s.subscriber_id",
                "email_hash": "''",
                "kind": "'unsubscribe'",
                "lists": sql.json("'[\"morning\"]'"),
                "at": "s.unsubscribed_at",
                "user_agent": "'Mozilla/5.0'",
                "source_url": "''",
                "form_version": "''",
                "detail": sql.json('\'{"method": "preferences"}\''),
            },
            f"{Subscription._meta.db_table} s WHERE s.mailing_list_id = {lists['morning']} "
            "AND s.state = 'unsubscribed'",
        ),
    }
    bounced = "'bounced' || n || '@example.net'"
    events["old_bounces"] = _insert(
        Suppression,
        {
            "email_hash": sql.base["hash"].format(bounced),
            "email": bounced,
            "reason": "'bounced'",
            "note": "'benchmark'",
            "created_at": sql.ago("n %% 1095"),
        },
        sql.base["series"],
        [max(100, n // 100)],
    )
    return {**lists, **{f"{kind}_events": count for kind, count in events.items()}}


def digests_create(*, count: int, lists: dict[str, int]) -> list[int]:
    """`count` daily digests; all but the last ten reduced to counts. Returns the last ten's ids."""
    from django.db import transaction

    from newsletters.models import Digest

    sql = _Sql()
    retained = count - LEDGER_DIGESTS
    # One a day, the oldest first; most to the big list. Retained ones carry counts only.
    list_of = (
        f"CASE WHEN n %% 10 < 7 THEN {lists['morning']} WHEN n %% 10 < 9 THEN {lists['weekend']} "
        f"ELSE {lists['breaking']} END"
    )
    sent_at = sql.ago(f"{count} - n")  # one a day, the oldest first; the last one yesterday
    counts = (
        '\'{"pending": 0, "sending": 0, "sent": \' || '
        + sql.text("880000 + n")
        + " || ', \"failed\": ' || "
        + sql.text("2700 + n %% 50")
        + " || ', \"skipped\": ' || "
        + sql.text("900 + n %% 20")
        + " || ', \"total\": ' || "
        + sql.text("883600 + n + n %% 50 + n %% 20")
        + ' || \', "possible_duplicates": 0, "bounced": \' || '
        + sql.text("900 + n %% 30")
        + " || ', \"complained\": ' || "
        + sql.text("170 + n %% 10")
        + " || '}'"
    )
    # The columns every sent digest shares; each insert adds its list and its counts.
    sent_digest = {
        "subject": "'Digest ' || " + sql.text("n"),
        "preheader": "''",
        "intro": "''",
        "state": "'sent'",
        "send_at": sent_at,
        "snapshot_at": sent_at,
        "rendered_at": sent_at,
        "sent_at": sql.plus_minutes(sent_at, "40"),
        "created_at": sent_at,
        "updated_at": sent_at,
        "rendered_subject": "'Digest ' || " + sql.text("n"),
        "rendered_html": "''",
        "rendered_text": "''",
    }
    with transaction.atomic():
        _insert(
            Digest,
            {
                "mailing_list_id": list_of,
                **sent_digest,
                "audience_count": "883600 + n",
                "retained_counts": sql.json(counts),
            },
            sql.base["series"] + " WHERE n < %s",
            [count, retained],
        )
        _insert(
            Digest,
            {
                "mailing_list_id": (
                    # The newest to the big list: the one whose figures are recounted each minute.
                    f"CASE WHEN n %% 10 >= 5 THEN {lists['morning']} "
                    f"WHEN n %% 10 >= 2 THEN {lists['weekend']} ELSE {lists['breaking']} END"
                ),
                **sent_digest,
                "audience_count": "0",
            },
            sql.base["series"] + " WHERE n >= %s",
            [count, retained],
        )
    return list(
        Digest.objects.filter(retained_counts__isnull=True)
        .order_by("snapshot_at")
        .values_list("pk", flat=True)
    )


def ledgers_create(*, digest_ids: list[int]) -> int:
    """Each digest's ledger: a row per active reader of its list, with realistic outcomes."""
    from django.db import transaction

    from mailinglist.models import ConsentEvent, Subscriber, Subscription, Suppression
    from newsletters.models import Delivery, Digest

    sql = _Sql()
    rows = 0
    deliveries = Delivery._meta.db_table
    subscribers = Subscriber._meta.db_table
    for k, digest_id in enumerate(digest_ids):
        digest = Digest.objects.get(pk=digest_id)
        when = f"(SELECT snapshot_at FROM {Digest._meta.db_table} WHERE id = {digest_id})"  # noqa: S608
        # Outcomes by the reader's id, shifted per digest; every marker falls on active readers
        # (ids ending 10-99 in the hundreds) and no two sets meet across the ten digests.
        mark = f"(s.subscriber_id + {k}) %% 1000"
        rare = f"(s.subscriber_id + {k}) %% 5000"
        with transaction.atomic():
            added = _insert(
                Delivery,
                {
                    "digest_id": str(digest_id),
                    "subscriber_id": "s.subscriber_id",
                    "state": f"CASE WHEN {mark} IN (21, 250) THEN 'failed' WHEN {mark} = 33 "
                    "THEN 'skipped' ELSE 'sent' END",
                    "attempts": f"CASE WHEN {mark} = 33 THEN 0 ELSE 1 END",
                    "last_error": f"CASE WHEN {mark} = 21 THEN '550 5.1.1 <reader' || "
                    f"{sql.text('s.subscriber_id')} || '@example.com>: Recipient address "
                    f"rejected: User unknown' WHEN {mark} = 250 THEN '552 5.2.2 Mailbox full' "
                    f"WHEN {mark} = 33 THEN 'Unsubscribed before sending.' WHEN {rare} = 4560 "
                    "THEN 'Reported as spam by the reader (Postmark); suppressed, "
                    "unsubscribed.' ELSE '' END",
                    "message_id": f"CASE WHEN {mark} IN (21, 250, 33) THEN '' ELSE 'digest-' || "
                    f"{sql.text(str(digest_id))} || '.' || {sql.text('s.subscriber_id')} END",
                    "sent_at": f"CASE WHEN {mark} IN (21, 250, 33) THEN NULL ELSE {when} END",
                    "claimed_by": "''",
                    "expired_claims": f"CASE WHEN (s.subscriber_id + {k}) %% 20000 = 18666 THEN 1 "
                    "ELSE 0 END",
                },
                f"{Subscription._meta.db_table} s WHERE s.mailing_list_id = "
                f"{digest.mailing_list_id} AND s.state = 'active'",
            )
            Digest.objects.filter(pk=digest_id).update(audience_count=added)
            # The hard bounces and complaints were suppressed; a tenth of a percent left
            # through the digest's own unsubscribe link.
            for reason, condition in [
                ("bounced", "d.last_error LIKE '550%%'"),
                ("complained", "d.last_error LIKE 'Reported as spam%%'"),
            ]:
                _insert(
                    Suppression,
                    {
                        "email_hash": "r.email_hash",
                        "email": "r.email",
                        "reason": f"'{reason}'",
                        "note": "'benchmark'",
                        "created_at": sql.plus_minutes("d.sent_at", "5")
                        if reason == "complained"
                        else sql.plus_minutes(when, "5"),
                    },
                    f"{deliveries} d JOIN {subscribers} r ON r.id = d.subscriber_id "
                    f"WHERE d.digest_id = {digest_id} AND {condition}",
                )
            _insert(
                ConsentEvent,
                {
                    "subscriber_id": "s.subscriber_id",
                    "email_hash": "''",
                    "kind": "'unsubscribe'",
                    "lists": sql.json("'[\"morning\"]'"),
                    "at": sql.plus_minutes(when, "60"),
                    "user_agent": "'Mozilla/5.0'",
                    "source_url": "''",
                    "form_version": "''",
                    "detail": sql.json(
                        '\'{"method": "page", "digest": \' || '
                        + sql.text(str(digest_id))
                        + " || '}'"
                    ),
                },
                f"{deliveries} s WHERE s.digest_id = {digest_id} AND s.state = 'sent' "
                f"AND {mark} = 77",
            )
        rows += added
        _log(f"ledger of digest {digest_id}: {added} rows")
    return rows


def upcoming_create(*, lists: dict[str, int]) -> None:
    from datetime import time as clock
    from datetime import timedelta

    from django.utils import timezone

    from newsletters.models import Digest, EditionSchedule

    for slug in ("morning", "weekend"):
        EditionSchedule.objects.create(
            mailing_list_id=lists[slug],
            days_of_week=[1, 2, 3, 4, 5, 6, 7] if slug == "morning" else [6],
            local_time=clock(6, 30),
        )
    for hours in (3, 20, 44):
        Digest.objects.create(
            mailing_list_id=lists["morning"],
            subject=f"Scheduled in {hours} hours",
            state=Digest.State.SCHEDULED,
            send_at=timezone.now() + timedelta(hours=hours),
        )


# --- Timing --------------------------------------------------------------------------------------


def _forget_cache() -> None:
    from operations.redis_client import redis_client

    client = redis_client()
    keys = list(client.scan_iter(match="newsdesk:*dashboard:*", count=1000))
    if keys:
        client.delete(*keys)


def _timed(render: Callable[[], Any]) -> float:
    started = time.perf_counter()
    render()
    return (time.perf_counter() - started) * 1000


def _queries(render: Callable[[], Any]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        render()
    return len(captured.captured_queries)


def _forget_newest_figures() -> int:
    """Drop the kept figures of the newest digest (what expires each minute); its ledger size."""
    from newsletters import dashboard
    from newsletters.models import Digest

    newest = Digest.objects.filter(snapshot_at__isnull=False).order_by("-snapshot_at").first()
    assert newest is not None
    from django.core.cache import cache

    cache.delete(dashboard._figures_key(newest))
    return newest.audience_count


def _parts() -> dict[str, Any]:
    """Each domain step of the page alone, with the cache empty and then kept (ms, median of 3)."""
    from newsletters import dashboard

    steps: dict[str, Callable[[], Any]] = {
        "list_sizes": dashboard.list_sizes,
        "audience_days_30": lambda: dashboard.audience_days(days=30),
        "audience_days_365": lambda: dashboard.audience_days(days=365),
        "signups_by_source_30": lambda: dashboard.signups_by_source(days=30),
        "signups_by_source_365": lambda: dashboard.signups_by_source(days=365),
        "last_digests": dashboard.last_digests,
        "next_digests_and_editions": lambda: (dashboard.next_digests(), dashboard.next_editions()),
        "worker_health": dashboard.worker_health,
    }
    _forget_cache()
    parts: dict[str, Any] = {}
    for name, step in steps.items():
        cold = _timed(step)
        warm = statistics.median(_timed(step) for _ in range(3))
        parts[name] = {"cold_ms": round(cold, 1), "kept_ms": round(warm, 1)}
    return parts


def measure(*, renders: int, subscribers: int, vendor: str, report_digest: int) -> None:
    from django.contrib.auth.models import User
    from django.template.response import TemplateResponse
    from django.test import Client, RequestFactory
    from django.test.utils import override_settings

    from newsletters.admin.reports import digest_report_view
    from newsletters.models import Digest

    admin = User.objects.create_superuser("bench", "bench@example.com", "bench-password-1")
    client = Client(HTTP_HOST="news.example.com")
    client.force_login(admin)
    common: dict[str, Any] = {
        "database": vendor,
        "target": f"under {TARGET_MS:.0f} ms",
        "debug": False,
    }

    def home(window: int) -> Callable[[], Any]:
        def render() -> Any:
            response = client.get(f"/admin/?window={window}", secure=True)
            assert response.status_code == 200, response.status_code
            assert b'id="newsroom"' in response.content
            return response

        return render

    # Static files as in development: the manifest (collectstatic) is not what is measured.
    plain_static = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=plain_static):
        home(30)()  # the first request of the process: imports, templates compiled; not a figure
        for window in (30, 90, 365):
            _forget_cache()
            cold = _timed(home(window))
            runs = [round(_timed(home(window)), 1) for _ in range(renders)]
            queries = _queries(home(window))
            # What a view pays each minute: the newest digest's figures counted again.
            newest = _forget_newest_figures()
            after_a_minute = _timed(home(window))
            figure(
                "dashboard_home" if window == 30 else f"dashboard_home_{window}d",
                n=subscribers,
                value=round(statistics.median(runs), 1),
                unit="ms",
                runs=runs,
                cold_ms=round(cold, 1),
                newest_digest_recounted_ms=round(after_a_minute, 1),
                newest_digest_rows=newest,
                window_days=window,
                queries=queries,
                **common,
            )
        parts = _parts()
        figure(
            "dashboard_parts",
            n=subscribers,
            value=round(sum(part["kept_ms"] for part in parts.values()), 1),
            unit="ms",
            parts=parts,
            database=vendor,
        )
        digest = Digest.objects.get(pk=report_digest)
        request = RequestFactory().get(f"/admin/newsletters/digest/{digest.pk}/report/")
        request.user = admin

        def report() -> Any:
            response = digest_report_view(request, digest)
            assert isinstance(response, TemplateResponse)
            return response.render()

        report()
        runs = [round(_timed(report), 1) for _ in range(max(3, renders // 2))]
        figure(
            "digest_report",
            n=digest.audience_count,
            value=round(statistics.median(runs), 1),
            unit="ms",
            runs=runs,
            ledger_rows=digest.audience_count,
            queries=_queries(report),
            database=vendor,
            debug=False,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--digests", type=int, default=1000)
    parser.add_argument("--renders", type=int, default=7, help="warm renders per window")
    parser.add_argument("--n", type=int, default=None, help="ignored (shared make bench flag)")
    parser.add_argument("--rows", type=int, default=None, help="ignored (shared make bench flag)")
    args = parser.parse_args()
    if args.digests < LEDGER_DIGESTS:
        parser.error(f"--digests must be at least {LEDGER_DIGESTS}")
    base_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL")
    with send_setup.bench_database(base_url=base_url) as database:
        env = send_setup.product_env(
            database_url=database.url, email_url="smtp://127.0.0.1:2525", debug=False
        )
        send_setup.django_setup(env, migrate=True)
        started = time.perf_counter()
        made = audience_create(n=args.subscribers)
        _log(f"audience: {made} in {time.perf_counter() - started:.0f} s ({database.vendor})")
        step = time.perf_counter()
        ledger_ids = digests_create(count=args.digests, lists=made)
        rows = ledgers_create(digest_ids=ledger_ids)
        upcoming_create(lists=made)
        _log(f"{args.digests} digests, {rows} ledger rows in {time.perf_counter() - step:.0f} s")
        step = time.perf_counter()
        send_setup.database_settle()
        _log(f"settled in {time.perf_counter() - step:.0f} s; measuring")
        from newsletters.models import Digest

        biggest = max(ledger_ids, key=lambda pk: Digest.objects.get(pk=pk).audience_count)
        try:
            measure(
                renders=args.renders,
                subscribers=args.subscribers,
                vendor=database.vendor,
                report_digest=biggest,
            )
        finally:
            _forget_cache()
            from django.db import connections

            connections.close_all()  # so the bench database can be dropped


if __name__ == "__main__":
    main()
