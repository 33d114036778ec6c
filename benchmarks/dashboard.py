"""Dashboard benchmark: the admin home's server time at a million readers and a thousand digests.

`python -m benchmarks.dashboard [--subscribers 1000000] [--digests 1000] [--renders 7]`, with a
Redis at REDIS_URL (`make bench` runs it under `devtools.with_redis --db 14`) and a fresh SQLite
file, or with BENCH_DATABASE_URL (else DATABASE_URL) = postgres://… a database of its own on that
server (created, then dropped).

The data (a million readers over three years, a thousand digests, the last ten with their
whole ledger) is benchmarks/dashboard_data.py's; see there what it holds.

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
import time
from collections.abc import Callable
from typing import Any

from benchmarks import send_setup
from benchmarks.dashboard_data import (
    LEDGER_DIGESTS,
    audience_create,
    digests_create,
    ledgers_create,
    log,
    upcoming_create,
)
from benchmarks.report import figure

TARGET_MS = 300.0


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
    from mailinglist import figures
    from newsletters import dashboard
    from operations import queues

    steps: dict[str, Callable[[], Any]] = {
        "list_sizes": figures.list_sizes,
        "audience_days_30": lambda: figures.audience_days(days=30),
        "audience_days_365": lambda: figures.audience_days(days=365),
        "signups_by_source_30": lambda: figures.signups_by_source(days=30),
        "signups_by_source_365": lambda: figures.signups_by_source(days=365),
        "last_digests": dashboard.last_digests,
        "next_digests_and_editions": lambda: (dashboard.next_digests(), dashboard.next_editions()),
        "worker_health": queues.worker_health,
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
        env = {
            **send_setup.product_env(
                database_url=database.url, email_url="smtp://127.0.0.1:2525", debug=False
            ),
            # What is measured is the dashboard's render for a logged-in superuser; with DEBUG
            # off STAFF_2FA defaults to "senders", whose code page would answer instead (302).
            "STAFF_2FA": "off",
        }
        send_setup.django_setup(env, migrate=True)
        started = time.perf_counter()
        made = audience_create(n=args.subscribers)
        log(f"audience: {made} in {time.perf_counter() - started:.0f} s ({database.vendor})")
        step = time.perf_counter()
        ledger_ids = digests_create(count=args.digests, lists=made)
        rows = ledgers_create(digest_ids=ledger_ids)
        upcoming_create(lists=made)
        log(f"{args.digests} digests, {rows} ledger rows in {time.perf_counter() - step:.0f} s")
        step = time.perf_counter()
        send_setup.database_settle()
        log(f"settled in {time.perf_counter() - step:.0f} s; measuring")
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
