"""DKIM signing of every message the transport sends (see docs/deliverability.md, "DKIM").

Empty on purpose: settings check DKIM_PRIVATE_KEY_FILE at start-up with keys.key_load, before
Django's apps (which selection.py's model needs) are ready.
"""
