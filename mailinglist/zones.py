"""Timezones a person can pick: every IANA zone that names a place.

A list's default zone lives here (the audience side owns lists); the digest page's schedule
picker and recurring editions offer the same names.
"""

from __future__ import annotations

import zoneinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Names zoneinfo accepts that describe this machine, not a place: a schedule must mean the same
# thing on every host.
MACHINE_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def zone_choices() -> list[tuple[str, str]]:
    """(name, label) for every place zone, Asia/Qatar included, sorted by name."""
    names = sorted(zoneinfo.available_timezones() - MACHINE_ZONES)
    return [(name, name.replace("_", " ")) for name in names]


def zone_or_utc(name: str) -> ZoneInfo:
    """The zone `name` names, or UTC for a blank or unknown name (a list's stored default)."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
