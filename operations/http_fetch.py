"""Fetching a URL someone typed in (a feed, a story's image): http(s) only, redirects too.

urllib follows a redirect to any scheme it can open (ftp://, file:// through a custom handler),
and an address from a form or a feed must never reach past the web; so both the address and
every redirect on the way are checked here, and the caller's own error says why it stopped.
"""

from __future__ import annotations

import urllib.request
from typing import Any
from urllib.parse import urlsplit

WEB_SCHEMES = frozenset({"http", "https"})


def is_web_url(url: str) -> bool:
    """Whether `url` is an http:// or https:// address."""
    return urlsplit(url).scheme.lower() in WEB_SCHEMES


def web_only_opener(refused: type[Exception]) -> urllib.request.OpenerDirector:
    """An opener that follows redirects only to http(s), raising `refused` for any other."""

    class _WebOnlyRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
        ) -> urllib.request.Request | None:
            if not is_web_url(newurl):
                raise refused(f"Redirected to a non-http(s) address: {newurl[:100]}")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(_WebOnlyRedirects)
