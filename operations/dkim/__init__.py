"""DKIM signing of every message the transport sends (see docs/deliverability.md, "DKIM")."""

from operations.dkim.selection import message_sign

__all__ = ["message_sign"]
