"""One SMTP sink for the tests, the benchmarks and a developer's shell, in three modes.

* **record** -- `SmtpSink()`: a real server (aiosmtpd, on a thread of its own in the test
  process) that keeps every message with its envelope, for tests to assert on (`received`,
  `wait_for`, `Received.message` parsed with `email.parser`).
* **faults** -- `SmtpSink(temp_fail_first_fraction=…, perm_fail_fraction=…, drop_fraction=…,
  sender_reply=…, pipelining=…)`: the same recorder following a deterministic fault script
  (faults.py): 451 then 250, 550, a refused sender, a connection dropped after DATA; and,
  switched on and off while it runs, `refuse_domains(["gmail.com"])`: a provider's
  "421 4.7.0 Try again later" at RCPT TO for every recipient of those domains.
* **count** -- `CountingSink()`: a child process that accepts, counts and forgets, as cheaply
  as a Python server can (an asyncio Protocol, counting.py), for the send benchmarks.

aiosmtpd serves the first two because it already is a complete, strict SMTP server whose
handler hooks are exactly where the faults belong (RCPT, MAIL, after DATA); its cost, over a
millisecond of CPU per message, is nothing next to a test's waits. The counting mode cannot
afford that cost (it would be the limit the benchmark measures) and needs none of the
strictness, so it is the one hand-written server. From the shell, one entry point for all
three: `python -m devtools.smtp_sink --mode record|faults|count` (see __main__.py).
"""

from devtools.ports import free_port
from devtools.smtp_sink.counting import CountingSink
from devtools.smtp_sink.faults import PERM_FAIL_REPLY, TEMP_FAIL_REPLY, Faults
from devtools.smtp_sink.recording import DOMAIN_SLOW_DOWN_REPLY, Received, SmtpSink

__all__ = [
    "DOMAIN_SLOW_DOWN_REPLY",
    "PERM_FAIL_REPLY",
    "TEMP_FAIL_REPLY",
    "CountingSink",
    "Faults",
    "Received",
    "SmtpSink",
    "free_port",
]
