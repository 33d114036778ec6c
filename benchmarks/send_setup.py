"""What the send benchmarks share: a throw-away database, the product's environment, and data.

- The database: a fresh SQLite file, or with DATABASE_URL=postgres://… a database of the bench's
  own (`newsdesk_bench_<pid>`) created on that server and dropped at the end.
- The environment of the product processes (worker, producer): as in production — DEBUG off
  (Django's debug cursor would add its own cost to every query), SEND_RATE 0, SMTP to the sink.
- The data: N active subscribers of one list, inserted by one INSERT ... SELECT over a generated
  series (a million in seconds, no row built in Python), and a digest of 10 stories.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from django.db.models import Model

    from mailinglist.models import MailingList
    from newsletters.models import Digest

SITE_URL = "https://news.example.com"
BENCH_LIST_SLUG = "bench"


@dataclass(frozen=True)
class BenchDatabase:
    url: str  # DATABASE_URL of the bench's own database
    vendor: str  # "sqlite" or "postgresql"


def _is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in {"postgres", "postgresql", "pgsql", "postgis"}


@contextmanager
def bench_database(*, base_url: str | None) -> Iterator[BenchDatabase]:
    """A fresh, empty database for one bench run (migrations not yet applied); removed after."""
    if base_url and _is_postgres(base_url):
        import psycopg

        parts = urlsplit(base_url)
        name = f"newsdesk_bench_{os.getpid()}"
        maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield BenchDatabase(
                url=urlunsplit(parts._replace(path=f"/{name}")), vendor="postgresql"
            )
        finally:
            with psycopg.connect(maintenance, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    if base_url and not base_url.startswith("sqlite:"):
        raise SystemExit(f"DATABASE_URL must be PostgreSQL or SQLite, not {base_url.split(':')[0]}")
    tmp = tempfile.mkdtemp(prefix="newsdesk-bench-")
    try:
        yield BenchDatabase(url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", vendor="sqlite")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def product_env(*, database_url: str, email_url: str, debug: bool) -> dict[str, str]:
    """The environment of every product process in the bench (and of the bench's own Django)."""
    return {
        **os.environ,
        "DEBUG": "on" if debug else "off",
        "SECRET_KEY": "benchmark-only-key-" + "x" * 40,
        "SITE_URL": SITE_URL,
        "ALLOWED_HOSTS": "news.example.com",
        "MAILING_ADDRESS": "Newsroom, 1 Example Street, Springfield",
        "DEFAULT_FROM_EMAIL": "Newsroom <newsletter@news.example.com>",
        "DATABASE_URL": database_url,
        "EMAIL_URL": email_url,
        "SEND_RATE": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }


def django_setup(env: Mapping[str, str], *, migrate: bool) -> None:
    """Configure Django in this process from `env`; apply migrations to the bench database."""
    os.environ.update(env)
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


# --- Data ----------------------------------------------------------------------------------------


def _insert_select(
    model: type[Model], *, columns: dict[str, str], source: str, params: list[Any]
) -> int:
    """INSERT INTO model's table SELECT `columns` (SQL expressions by column) FROM `source`.

    The expressions carry no parameters (only `source` does). Columns not given get NULL or their
    field's constant default, so a new nullable or defaulted column does not break the bench;
    one it cannot fill raises, naming it.
    """
    from django.db import connection
    from django.db.models import NOT_PROVIDED

    names, expressions, defaults = [], [], []
    for model_field in model._meta.concrete_fields:
        column = model_field.column
        if column in columns:
            names.append(column)
            expressions.append(columns[column])
        elif model_field.primary_key or model_field.null:
            continue
        elif model_field.default is not NOT_PROVIDED and not callable(model_field.default):
            names.append(column)
            expressions.append("%s")
            defaults.append(model_field.get_db_prep_save(model_field.default, connection))
        else:
            raise RuntimeError(f"the bench does not know how to fill {model.__name__}.{column}")
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(names)}) "  # noqa: S608 - our own names
        f"SELECT {', '.join(expressions)} FROM {source}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, defaults + params)
        return int(cursor.rowcount)


def _sql() -> dict[str, str]:
    """Vendor SQL: a series n = 0 … %s-1 as a FROM clause, an id from n, a hash, now."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return {
            "series": "generate_series(0, %s - 1) AS seq(n)",
            "public_id": "'bench' || lpad(n::text, 17, '0')",  # 22 characters, as token_urlsafe(16)
            # addresses.email_hash (SHA-256 of the lower-cased address) for ASCII addresses
            "hash": "encode(sha256(convert_to(lower({}), 'UTF8')), 'hex')",
            "now": "now()",
        }
    # SQLite: a recursive CTE as a derived table; the product's own email_hash as a function
    # of this connection; datetimes as Django stores them.
    from mailinglist.addresses import email_hash

    connection.ensure_connection()
    connection.connection.create_function("bench_email_hash", 1, email_hash, deterministic=True)
    return {
        "series": "(WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq "
        "WHERE n + 1 < %s) SELECT n FROM seq) AS seq",
        "public_id": "'bench' || printf('%%017d', n)",
        "hash": "bench_email_hash({})",
        "now": "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')",
    }


def mailing_list_create() -> MailingList:
    from mailinglist.models import MailingList

    return MailingList.objects.create(
        name="The Morning Briefing",
        slug=BENCH_LIST_SLUG,
        from_name="The Morning Briefing",
        from_email="briefing@news.example.com",
    )


def subscribers_create(*, mailing_list: MailingList, n: int) -> int:
    """N subscribers, each actively subscribed to `mailing_list`, in set-based statements.

    Beside them, a suppression list of 1% as many other addresses (100 to 10,000: bounces and
    complaints of people no longer on the list), so the snapshot's suppression check meets a
    real table; no subscriber is suppressed, so all N are mailed.
    """
    from django.db import transaction

    from mailinglist.models import Subscriber, Suppression

    sql = _sql()
    email = "'reader' || n || '@example.com'"
    bounced = "'bounced' || n || '@example.net'"
    with transaction.atomic():
        created = _insert_select(
            Subscriber,
            columns={
                "email": email,
                "email_hash": sql["hash"].format(email),  # where the model has it
                "name": "'Reader ' || n",
                "public_id": sql["public_id"],
                "created_at": sql["now"],
            },
            source=sql["series"],
            params=[n],
        )
        _insert_select(
            Suppression,
            columns={
                "email_hash": sql["hash"].format(bounced),
                "email": bounced,
                "reason": f"'{Suppression.Reason.BOUNCED.value}'",
                "note": "'benchmark'",
                "created_at": sql["now"],
            },
            source=sql["series"],
            params=[min(10_000, max(100, n // 100))],
        )
        _subscriptions_insert(
            mailing_list=mailing_list, readers=f"{Subscriber._meta.db_table} r", params=[]
        )
    return created


def warmup_list_create(*, count: int) -> MailingList:
    """A second list whose readers are the first `count` subscribers: for a short warm-up send."""
    from mailinglist.models import MailingList, Subscriber

    warmup = MailingList.objects.create(name="Warm-up", slug="bench-warmup")
    first = f"SELECT id, created_at FROM {Subscriber._meta.db_table} ORDER BY id LIMIT %s"  # noqa: S608
    _subscriptions_insert(mailing_list=warmup, readers=f"({first}) r", params=[count])
    return warmup


def _subscriptions_insert(*, mailing_list: MailingList, readers: str, params: list[Any]) -> None:
    """Subscribe every reader of `readers` (a FROM source aliased r: id, created_at) to a list."""
    from mailinglist.models import Subscription

    _insert_select(
        Subscription,
        columns={
            "subscriber_id": "r.id",
            "mailing_list_id": str(int(mailing_list.pk)),
            "state": f"'{Subscription.State.ACTIVE.value}'",
            "source": f"'{Subscription.Source.IMPORT.value}'",
            "created_at": "r.created_at",
            "confirmed_at": "r.created_at",
        },
        source=readers,
        params=params,
    )


def database_settle() -> None:
    """After bulk writes: planner statistics and a checkpoint, as a live database would have.

    Otherwise the first timed statement pays for the bulk load (hint bits, a checkpoint) and the
    planner guesses without statistics: the figures would depend on what ran just before.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
            # Needs a superuser (or pg_checkpoint); without it the figures are only noisier.
            with contextlib.suppress(Exception):
                cursor.execute("CHECKPOINT")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def digest_create(*, mailing_list: MailingList, stories: int = 10) -> Digest:
    """A digest of `stories` typical stories (headline, standfirst, image), not yet scheduled."""
    from django.utils import timezone

    from newsletters.models import Digest, DigestStory, Story

    digest = Digest.objects.create(
        mailing_list=mailing_list,
        subject="Tuesday: harbour park, rail strike, the week in culture",
        preheader="Ten stories to start your day",
        intro="<p>Good morning. Here is <strong>what matters</strong> today.</p>",
    )
    for position in range(stories):
        story = Story.objects.create(
            headline=f"Story {position}: councillors back the harbour park plan & the budget",
            url=f"https://news.example.com/2026/{digest.pk}/story-{position}",
            summary=f"<p>{'A summary sentence of a typical length, with a few words. ' * 4}</p>",
            image_url=f"https://img.example.com/{digest.pk}/{position}.jpg",
            image_alt="A photograph that goes with the story",
            section="Cities",
            byline="Amira Okafor",
            published_at=timezone.now(),
            is_featured=True,
        )
        DigestStory.objects.create(digest=digest, story=story, position=position + 1)
    return digest


# --- Pre-built messages for the raw SMTP clients -------------------------------------------------


def messages_build(*, digest: Digest, count: int) -> tuple[str, list[tuple[str, bytes]]]:
    """(envelope sender, [(recipient, message bytes)]) for the list's first `count` readers.

    The real per-reader bytes the workers would send for this digest: the same template, the
    same signed links, so the raw clients push messages of exactly the digest's size.
    """
    from mailinglist.models import Subscriber
    from newsletters import rendering
    from newsletters.delivery import messages

    template = messages.message_template_build(
        digest_id=digest.pk,
        mailing_list=digest.mailing_list,
        rendered=rendering.digest_render(digest=digest),
    )
    on_list = Subscriber.objects.filter(subscriptions__mailing_list=digest.mailing_list)
    readers = on_list.order_by("pk")[:count]
    prepared = []
    for reader in readers:
        values = messages.recipient_values(template=template, subscriber=reader)
        prepared.append((reader.email, messages.message_bytes(template=template, recipient=values)))
    return template.envelope_from, prepared


def messages_write(path: Path, *, sender: str, messages: list[tuple[str, bytes]]) -> None:
    """A length-prefixed file the raw clients read without Django."""
    with open(path, "wb") as handle:
        text = sender.encode()
        handle.write(struct.pack("!I", len(text)) + text)
        for recipient, raw in messages:
            address = recipient.encode()
            handle.write(struct.pack("!I", len(address)) + address)
            handle.write(struct.pack("!I", len(raw)) + raw)


def messages_read(path: Path) -> tuple[str, list[tuple[str, bytes]]]:
    data = Path(path).read_bytes()
    at = 0

    def take() -> bytes:
        nonlocal at
        (size,) = struct.unpack_from("!I", data, at)
        chunk = data[at + 4 : at + 4 + size]
        at += 4 + size
        return chunk

    sender = take().decode()
    messages = []
    while at < len(data):
        recipient = take().decode()
        messages.append((recipient, take()))
    return sender, messages
