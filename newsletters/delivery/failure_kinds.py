"""Why messages failed, in four words: few enough to be a metric's label, and kept by retention.

The ledger keeps each failed row's last answer as text (`last_error`), written in our own words
by the transport (operations/transport) or the ESP tracking events (tracking.py), so a few
patterns sort them in SQL without reading the rest:

- **bounced** — the address does not exist: an SMTP 550/551/553 that is not a policy refusal
  (enhanced status 5.7.x), an address the ESP calls invalid, an ESP's bounce event (not a
  temporary one), or its reject event for an invalid or bounced address;
- **rejected** — refused for good for another reason: any other 5xx (a 5.7.x policy or spam
  block among them), an ESP that rejected the message or this reader;
- **expired** — temporary failures (4xx, an ESP's trouble) until the engine gave up after
  MAX_ATTEMPTS tries, or an ESP's bounce event for a temporary failure (it gave up itself);
- **other** — anything else (an ESP's "failed" event, say).

reports.py groups the same rows by their full (masked) text, for a person to read.
"""

from __future__ import annotations

from django.db.models import Case, CharField, Count, Q, Value, When

from newsletters.delivery.failures import MAX_ATTEMPTS
from newsletters.models import Delivery

FAILURE_KINDS = ("bounced", "rejected", "expired", "other")

# "550 5.1.1 <x>: user unknown" is an address that does not exist; "550 5.7.1 …" is a policy block.
_HARD_BOUNCE = (Q(last_error__startswith="550 ") | Q(last_error__startswith="551 ")) | Q(
    last_error__startswith="553 "
)
_POLICY = Q(last_error__contains=" 5.7.")
# tracking.py: an ESP's bounce event, "Bounced (Postmark): smtp;550 5.1.1 …". One with a 4xx or a
# 4.x.x status is the ESP giving up on a temporary failure (tracking.py does not suppress it).
_ESP_BOUNCE = Q(last_error__startswith="Bounced (")
_TEMPORARY = Q(last_error__regex=r"4\.[0-9]{1,3}\.[0-9]{1,3}|smtp; ?4[0-9][0-9]")
# tracking.py: an ESP's reject event, "Rejected by Postmark (invalid; …)"; invalid and bounced
# are the reasons it suppresses the address for.
_ESP_REJECT = Q(last_error__startswith="Rejected by ")
_REJECTED_AS_BOUNCE = Q(last_error__contains=" (invalid;") | Q(last_error__contains=" (bounced;")
_BOUNCED = (
    (_HARD_BOUNCE & ~_POLICY)
    | (_ESP_BOUNCE & ~_TEMPORARY)
    | (_ESP_REJECT & _REJECTED_AS_BOUNCE)
    | Q(last_error__contains=": invalid address.")  # transport/esp.py: refused as invalid
    | Q(last_error__startswith="Invalid email address")  # django-anymail could not parse it
)
_REJECTED = (
    Q(last_error__startswith="5")  # any other SMTP 5xx reply
    | _ESP_REJECT
    | Q(last_error__contains=" rejected it.")  # transport/esp.py: refused this reader
    | Q(last_error__startswith="HTTP 4")  # transport/esp.py: a 4xx that names the reader
)
_EXPIRED = Q(attempts__gte=MAX_ATTEMPTS) | _ESP_BOUNCE


def failure_kind() -> Case:
    """The kind of a failed row, as an SQL expression (so rows are counted, never fetched)."""
    return Case(
        When(_BOUNCED, then=Value("bounced")),
        When(_REJECTED, then=Value("rejected")),
        When(_EXPIRED, then=Value("expired")),
        default=Value("other"),
        output_field=CharField(),
    )


def failures_by_kind(*, digest_ids: list[int]) -> dict[str, int]:
    """Failed rows of `digest_ids` per kind (every kind present, zero or more)."""
    counted = {kind: 0 for kind in FAILURE_KINDS}
    if not digest_ids:
        return counted
    rows = (
        Delivery.objects.filter(digest_id__in=digest_ids, state=Delivery.State.FAILED)
        .annotate(kind=failure_kind())
        .values("kind")
        .annotate(n=Count("pk"))
        .values_list("kind", "n")
    )
    for kind, n in rows:
        counted[str(kind)] += int(n)
    return counted
