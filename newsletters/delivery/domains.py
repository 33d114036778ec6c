"""Which receiving-domain group an address belongs to, for per-domain pacing (pacing.py).

The big mailbox providers each limit how fast they take mail from one sender and answer
421/4.7.x when it comes too fast; each group gets a rate and a slow-down of its own
(DOMAIN_SEND_RATES). Only the providers' public consumer domains are recognised: a company's
own domain hosted by Google Workspace or Microsoft 365 lands in "other", since knowing that takes
an MX lookup per reader, too costly on the send path (and its limits are the company's, not the
consumer service's).
"""

from __future__ import annotations

import re
from typing import Literal

DomainGroup = Literal["gmail", "outlook", "yahoo", "other"]
DOMAIN_GROUPS: tuple[DomainGroup, ...] = ("gmail", "outlook", "yahoo", "other")

# A brand's country domains: hotmail.com, hotmail.fr, hotmail.co.uk, live.com.au, yahoo.com.tw.
# The suffix is held to a top-level domain with at most a co./com. before it, so a custom domain
# such as live.example.org stays "other".
_COUNTRY = r"\.(?:(?:co|com)\.)?[a-z]{2,3}"
_PATTERNS: tuple[tuple[DomainGroup, re.Pattern[str]], ...] = (
    ("gmail", re.compile(r"(?:gmail|googlemail)\.com")),
    ("outlook", re.compile(rf"(?:outlook|hotmail|live){_COUNTRY}|msn\.com|windowslive\.com")),
    # yahoo.co.jp is another company's service (LY Corporation) with its own limits.
    (
        "yahoo",
        re.compile(rf"(?!yahoo\.co\.jp$)yahoo{_COUNTRY}|ymail\.com|rocketmail\.com|aol{_COUNTRY}"),
    ),
)


def domain_group(email: str) -> DomainGroup:
    """The pacing group of `email`'s domain; "other" for any domain not listed (or no domain)."""
    domain = email.rpartition("@")[2].strip().rstrip(".").lower()
    for group, pattern in _PATTERNS:
        if pattern.fullmatch(domain):
            return group
    return "other"
