"""Links in the mail the tests receive, as paths a test client or a browser can open."""

from __future__ import annotations

import re

from devtools.smtp_sink import Received


def url_path(url: str) -> str:
    """`url` without its scheme and host: the path (and query) this site serves it at."""
    return re.sub(r"^https?://[^/]+", "", url)


def mail_link(received: Received, path_prefix: str) -> str:
    """The path of the first link in the mail's plain-text part that starts with `path_prefix`."""
    text = received.message.get_body(preferencelist=("plain",))
    assert text is not None
    match = re.search(rf"https?://[^/\s]+({re.escape(path_prefix)}[^\s]+)", text.get_content())
    assert match, text.get_content()
    return match.group(1)
