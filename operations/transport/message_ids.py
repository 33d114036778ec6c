"""Message-IDs on our own domain, SITE_URL's host, for every mail the product sends.

Django's make_msgid puts the machine's name after the "@" (socket.getfqdn(): a container id, or
"localhost"): that leaks a worker's host name, differs from worker to worker, and, unrelated to
the From and DKIM domains, is one more thing receivers' filters count against a message.
Digests take theirs from here too (newsletters/delivery/messages.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail.message import make_msgid


def message_id_domain() -> str:
    """The domain every Message-ID we make is on: SITE_URL's host name."""
    return urlsplit(str(settings.SITE_URL)).hostname or "localhost"


def message_id_make() -> str:
    """A new Message-ID, `<unique@SITE_URL host>`, unique across workers and hosts."""
    return make_msgid(domain=message_id_domain())
