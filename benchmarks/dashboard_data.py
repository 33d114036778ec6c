"""The dashboard benchmark's data: a million readers and a thousand digests, made in minutes.

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
"""

from __future__ import annotations

import sys

from benchmarks.dashboard_sql import Sql, insert

LEDGER_DIGESTS = 10
ARTICLES = 500


def log(message: str) -> None:
    print(f"[dashboard] {message}", file=sys.stderr, flush=True)


def audience_create(*, n: int) -> dict[str, int]:
    """N subscribers over three years, their subscriptions to three lists and consent records."""
    from django.db import transaction

    from mailinglist.models import ConsentEvent, MailingList, Subscriber, Subscription, Suppression

    sql = Sql()
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
        insert(
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
            insert(
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
        "signup": insert(
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
        "confirm": insert(
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
        "unsubscribe": insert(
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
    events["old_bounces"] = insert(
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

    sql = Sql()
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
        insert(
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
        insert(
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

    sql = Sql()
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
            added = insert(
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
                insert(
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
            insert(
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
        log(f"ledger of digest {digest_id}: {added} rows")
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
