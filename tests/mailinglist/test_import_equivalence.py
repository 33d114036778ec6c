"""Property: the set-based import ends where applying its rows one at a time would (#12).

The import classifies a whole chunk with a few queries and writes it with one statement per
table. Whatever the file and whatever the database held before, the subscribers, their names,
their state on the list and their consent events must come out as if each row (duplicates in
the file aside: the first row with an address wins) had been imported on its own, in order,
and as the rules written out in plain Python say.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailinglist import imports, subscriptions
from mailinglist.addresses import email_normalise, name_clean
from mailinglist.models import ConsentEvent, MailingList, Subscriber, Subscription, Suppression
from tests.factories import SubscriberFactory
from tests.mailinglist.imports_helpers import import_file

State = Subscription.State
ADDRESSES = [
    "ada@example.com",
    "ADA@Example.com",
    "bob@example.com",
    "carol@example.org",
    "dave@bücher.example",
    "left@example.com",
    "gone@example.com",
    "not an address",
    "",
]
NAMES = ["", "Ada", "Zoë Ångström", "李小龍", "  spaced   out  ", "=1+2"]
# Who the database knows before the import: address → (name, state on the list or None).
KNOWN = ["ada@example.com", "bob@example.com", "left@example.com"]
STATES = [None, State.ACTIVE, State.PENDING, State.UNSUBSCRIBED]

rows_strategy = st.lists(st.tuples(st.sampled_from(ADDRESSES), st.sampled_from(NAMES)), max_size=14)
world_strategy = st.fixed_dictionaries(
    {
        address: st.one_of(st.none(), st.tuples(st.sampled_from(NAMES), st.sampled_from(STATES)))
        for address in KNOWN
    }
)


def _csv(rows: list[tuple[str, str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["email", "name"], *rows])
    return buffer.getvalue()


def _key(address: str) -> str | None:
    try:
        return email_normalise(address).lower()
    except ValidationError:
        return None


def _first_of_each(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    kept = []
    for address, name in rows:
        key = _key(address)
        if key is not None and key not in seen:
            seen.add(key)
            kept.append((address, name))
    return kept


def _world_make(world: dict[str, Any], daily: MailingList) -> None:
    for address, known in world.items():
        if known is not None:
            name, state = known
            subscriber = SubscriberFactory.create(email=address, name=name.strip())
            if state is not None:
                Subscription.objects.create(subscriber=subscriber, mailing_list=daily, state=state)
    subscriptions.suppression_add(email="gone@example.com", reason=Suppression.Reason.COMPLAINED)


def _reference(
    before: dict[str, tuple[str, str, str | None, int]], rows: list[tuple[str, str]]
) -> dict[str, tuple[str, str, str | None, int]]:
    """The rules, one row at a time, in plain Python: what the import must leave."""
    state = dict(before)
    for address, raw_name in _first_of_each(rows):
        email, name = email_normalise(address), name_clean(raw_name)
        if email.lower() == "gone@example.com":  # suppressed
            continue
        known = state.get(email.lower())
        if known is None:
            state[email.lower()] = (email, name, State.ACTIVE, 1)
            continue
        stored, stored_name, on_list, events = known
        if on_list == State.UNSUBSCRIBED:  # never subscribed again by an import
            continue
        if on_list is None:
            on_list, events = State.ACTIVE, events + 1
        state[email.lower()] = (stored, stored_name or name, on_list, events)
    return state


def _end_state(daily: MailingList) -> dict[str, tuple[str, str, str | None, int]]:
    """lower-cased address → (address, name, state on the list, import consent events)."""
    states = dict(
        Subscription.objects.filter(mailing_list=daily).values_list("subscriber_id", "state")
    )
    events: dict[int, int] = {}
    for subscriber_id in ConsentEvent.objects.filter(kind=ConsentEvent.Kind.IMPORT).values_list(
        "subscriber_id", flat=True
    ):
        events[subscriber_id] = events.get(subscriber_id, 0) + 1
    return {
        email.lower(): (email, name, states.get(pk), events.get(pk, 0))
        for pk, email, name in Subscriber.objects.values_list("pk", "email", "name")
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=rows_strategy, world=world_strategy, chunk_size=st.sampled_from([1, 3, 2000]))
def test_the_set_based_import_ends_where_importing_row_by_row_does(
    daily: MailingList,
    monkeypatch: Any,
    rows: list[tuple[str, str]],
    world: dict[str, Any],
    chunk_size: int,
) -> None:
    monkeypatch.setattr(imports, "CHUNK_SIZE", chunk_size)
    with transaction.atomic():
        _world_make(world, daily)
        expected = _reference(_end_state(daily), rows)
        whole = import_file(_csv(rows), daily)
        set_based = _end_state(daily)
        transaction.set_rollback(True)
    with transaction.atomic():
        _world_make(world, daily)
        for row in _first_of_each(rows):
            import_file(_csv([row]), daily)
        one_by_one = _end_state(daily)
        transaction.set_rollback(True)

    assert set_based == one_by_one == expected
    counted = whole.imported_count + whole.merged_count + whole.duplicate_count
    counted += whole.invalid_count + whole.suppressed_count + whole.skipped_unsubscribed_count
    assert counted == whole.total_rows == whole.processed_rows
