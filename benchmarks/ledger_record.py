"""What recording each accepted message at once costs, against recording a group of 20 together.

A batch writes a message's outcome the moment the server accepts it (newsletters/delivery/
record.py): one UPDATE, committed on its own, so that a worker killed mid-send
leaves at most the message on the wire unrecorded. Before, a group of 20 outcomes was written
by one `executemany` in one transaction. This times both on the same ledger rows (claimed,
as a batch holds them), on a fresh SQLite file or, with DATABASE_URL=postgres://…, a database
of the bench's own on that server:

- `ledger_record_each`: microseconds per message, one statement and commit per message;
- `ledger_record_grouped`: the same for groups of 20 (the earlier way, kept here as the
  baseline); its `ratio` is each / grouped;
- `ledger_record_each_unflushed`: one per message as a batch now writes them, its commits not
  waiting for the WAL flush (commit_mode.py; the same as `each` on SQLite, whose WAL mode with
  synchronous=NORMAL already makes that trade); its `ratio` is unflushed / each.

Median of `--runs` runs of `--n` rows each. The send itself (`send_path`) shows the effect on a
whole send.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from benchmarks import send_setup
from benchmarks.report import figure, median

GROUP = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5_000, help="rows recorded per run")
    parser.add_argument("--runs", type=int, default=5, help="runs of each way")
    parser.add_argument("--rows", type=int, default=None, help="ignored (shared make bench flag)")
    args = parser.parse_args()
    with send_setup.bench_database(base_url=os.environ.get("DATABASE_URL")) as database:
        env = send_setup.product_env(
            database_url=database.url, email_url="smtp://127.0.0.1:25", debug=False
        )
        send_setup.django_setup(env, migrate=True)
        each, grouped, unflushed = _measure(n=args.n, runs=args.runs)
    extra = {"database": database.vendor, "runs": args.runs}
    figure("ledger_record_grouped", n=args.n, value=round(grouped, 1), unit="us/message", **extra)
    figure(
        "ledger_record_each",
        n=args.n,
        value=round(each, 1),
        unit="us/message",
        ratio_to="ledger_record_grouped",
        ratio=each / grouped,
        **extra,
    )
    figure(
        "ledger_record_each_unflushed",
        n=args.n,
        value=round(unflushed, 1),
        unit="us/message",
        ratio_to="ledger_record_each",
        ratio=unflushed / each,
        **extra,
    )


def _measure(*, n: int, runs: int) -> tuple[float, float, float]:
    from django.db import connection, transaction

    from newsletters.delivery import commit_mode, record, snapshot
    from newsletters.models import Delivery

    mailing_list = send_setup.mailing_list_create()
    send_setup.subscribers_create(mailing_list=mailing_list, n=n)
    digest = send_setup.digest_create(mailing_list=mailing_list)
    with transaction.atomic():
        snapshot.digest_snapshot(digest_id=digest.pk)  # fan-out waits for a commit it never sees
    send_setup.database_settle()
    ledger = Delivery.objects.filter(digest_id=digest.pk)
    table = Delivery._meta.db_table
    sql = (
        f"UPDATE {table} SET state = 'sent', attempts = attempts + 1, message_id = %s, "  # noqa: S608
        "sent_at = %s, last_error = '', claimed_by = '' "
        "WHERE id = %s AND claimed_by = %s AND state = 'sending'"
    )

    def claimed(run: str) -> list[Delivery]:
        ledger.update(state="sending", claimed_by=run, attempts=0)
        return list(ledger.order_by("pk").only("pk", "claimed_by"))

    def each(rows: list[Delivery]) -> None:
        for row in rows:
            record.sent_record(
                row_id=row.pk, claimed_by=row.claimed_by, message_id=f"<{row.pk}@bench>"
            )

    def grouped(rows: list[Delivery]) -> None:
        for start in range(0, len(rows), GROUP):
            now = connection.ops.adapt_datetimefield_value(_now())
            values: list[Any] = [
                (f"<{row.pk}@bench>", now, row.pk, row.claimed_by)
                for row in rows[start : start + GROUP]
            ]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, values)

    def unflushed(rows: list[Delivery]) -> None:
        with commit_mode.ledger_commits_unflushed():
            each(rows)

    timings: dict[str, list[float]] = {"each": [], "grouped": [], "unflushed": []}
    for run in range(runs):
        for name, way in (("each", each), ("grouped", grouped), ("unflushed", unflushed)):
            rows = claimed(f"bench:{name}{run}")
            started = time.perf_counter()
            way(rows)
            timings[name].append((time.perf_counter() - started) / len(rows) * 1e6)
            assert ledger.filter(state="sent").count() == n, name
    return median(timings["each"]), median(timings["grouped"]), median(timings["unflushed"])


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


if __name__ == "__main__":
    main()
