"""The fault script of the recording sink: which address, envelope or attempt gets which fault.

Where each fault happens in the SMTP dialogue:

* 550 5.1.1 (permanent) -- at RCPT TO, on every attempt, for the addresses `will_perm_fail`
  picks. smtplib reports it per recipient: `SMTPRecipientsRefused` (code 550) when every
  recipient of the message was refused, otherwise in `sendmail`'s returned dict.
* 451 4.3.0 (temporary) -- also at RCPT TO, for the first `temp_fail_attempts` (default 1)
  RCPTs of the addresses `will_temp_fail_first` picks; later attempts are accepted. RCPT time
  rather than DATA time because that is where a real server greylists, and it lets smtplib
  report a per-recipient code instead of one `SMTPDataError` for the whole message.
* A refused sender -- every MAIL FROM answered with `sender_reply`, if set (the server will
  not take mail from us at all: a wrong sender domain, an expired login).
* Dropped connection -- after the whole DATA body has been read, before the 250 is sent: the
  transport is closed and the client sees `SMTPServerDisconnected`. That is the ambiguous case
  (the server has the message, the client cannot know), so such messages are kept in
  `dropped_after_data`, never in `received`: a test can reason about possible duplicates.

Every choice is a pure function of the seed and the address (or the recipients and how many
times they reached DATA), never of arrival order, so concurrent workers see the same faults
and a test can compute the expected outcome up front with the predicates below.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

TEMP_FAIL_REPLY = "451 4.3.0 Try again later"
PERM_FAIL_REPLY = "550 5.1.1 No such user"


def _fraction_of(seed: int, kind: str, key: str) -> float:
    """A stable number in [0, 1) for (seed, kind, key); `hash()` is salted per process."""
    digest = hashlib.blake2b(f"{seed}\0{kind}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _or(given: float | None, kept: float) -> float:
    return kept if given is None else given


def envelope_key(rcpt_tos: Iterable[str]) -> str:
    """One key per set of recipients, whatever their order or case."""
    return ",".join(sorted(address.lower() for address in rcpt_tos))


@dataclass(frozen=True)
class Faults:
    """What share of addresses or DATAs fail, and how; all zero is a well-behaved server."""

    temp_fail_first_fraction: float = 0.0
    perm_fail_fraction: float = 0.0
    drop_fraction: float = 0.0
    seed: int = 1
    temp_fail_attempts: int = 1

    def __post_init__(self) -> None:
        fractions = (self.temp_fail_first_fraction, self.perm_fail_fraction, self.drop_fraction)
        for fraction in fractions:
            if not 0.0 <= fraction <= 1.0:
                raise ValueError(f"a fault fraction must be within [0, 1], not {fraction}")
        if self.temp_fail_attempts < 1:
            raise ValueError("temp_fail_attempts must be at least 1")

    def changed(
        self,
        *,
        temp_fail_first_fraction: float | None = None,
        perm_fail_fraction: float | None = None,
        drop_fraction: float | None = None,
        seed: int | None = None,
        temp_fail_attempts: int | None = None,
    ) -> Faults:
        """A copy with the given settings changed; None keeps a setting."""
        return Faults(
            temp_fail_first_fraction=_or(temp_fail_first_fraction, self.temp_fail_first_fraction),
            perm_fail_fraction=_or(perm_fail_fraction, self.perm_fail_fraction),
            drop_fraction=_or(drop_fraction, self.drop_fraction),
            seed=int(_or(seed, self.seed)),
            temp_fail_attempts=int(_or(temp_fail_attempts, self.temp_fail_attempts)),
        )

    def will_perm_fail(self, address: str) -> bool:
        return _fraction_of(self.seed, "perm", address.lower()) < self.perm_fail_fraction

    def will_temp_fail_first(self, address: str) -> bool:
        """True if the first attempt(s) get 451; never for an address that gets 550."""
        chosen = _fraction_of(self.seed, "temp", address.lower()) < self.temp_fail_first_fraction
        return chosen and not self.will_perm_fail(address)

    def will_drop(self, rcpt_tos: Iterable[str], data_attempt: int = 1) -> bool:
        """True if the `data_attempt`-th DATA (1-based) for these recipients is dropped."""
        key = f"{envelope_key(rcpt_tos)}#{data_attempt}"
        return _fraction_of(self.seed, "drop", key) < self.drop_fraction

    def rcpt_reply(self, address: str, *, attempt: int) -> str | None:
        """The refusal for the `attempt`-th RCPT TO (1-based) of this address, or None."""
        if self.will_perm_fail(address):
            return PERM_FAIL_REPLY
        if self.will_temp_fail_first(address) and attempt <= self.temp_fail_attempts:
            return TEMP_FAIL_REPLY
        return None
