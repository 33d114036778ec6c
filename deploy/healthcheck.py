"""The web container's health check: GET /healthz as a load balancer would; exit 0 only on 200.

Sent with SITE_URL's host name as Host, which ALLOWED_HOSTS admits (with DEBUG off, 127.0.0.1 is
not), over plain HTTP, which the HTTPS redirect leaves /healthz out of. 200 means the database,
Redis and at least one worker answer (README, *Running in production*).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit


def main() -> int:
    port = os.environ.get("PORT", "").strip() or "8000"
    host = urlsplit(os.environ.get("SITE_URL", "")).hostname or "localhost"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 - our own URL
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"/healthz: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
