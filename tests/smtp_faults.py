"""Moved to devtools.smtp_sink (faults mode); these names stay only until every user is moved."""

from devtools.smtp_sink import PERM_FAIL_REPLY, TEMP_FAIL_REPLY, SmtpSink

# The fault-injecting sink is the recording sink given a fault script.
FaultySmtpSink = SmtpSink

__all__ = ["PERM_FAIL_REPLY", "TEMP_FAIL_REPLY", "FaultySmtpSink"]
