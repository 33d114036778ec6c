"""Moved to devtools.smtp_sink (record mode); these names stay only until every user is moved."""

from devtools.ports import free_port
from devtools.smtp_sink import Received, SmtpSink

__all__ = ["Received", "SmtpSink", "free_port"]
