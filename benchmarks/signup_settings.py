"""Settings for the signup benchmark's gunicorn: the product's own, with three bench-only changes.

1. The per-IP signup limit is lifted (every bench POST comes from 127.0.0.1); the counter is still
   taken in Redis on every POST, so its cost stays in the figure.
2. ROOT_URLCONF adds a bare view beside the product's URLs, behind the same middleware.
3. Bench-private names in the shared Redis: cache keys under their own prefix and the signup
   task on its own queue, so the bench can delete exactly what it created, and a worker of
   `make run` on the same Redis database does not pick the tasks up (and steal the CPU).
   Publishing to one queue name costs what publishing to another does. The bench's own worker
   (the confirmation latency probe) consumes only that queue.

The priming GET renders `{% static %}`; with DEBUG off the product's manifest storage would need
`collectstatic` first, so plain storage is used here. No measured request renders a template.
"""

from __future__ import annotations

import os
from typing import Any

from config import settings as _product

globals().update({name: value for name, value in vars(_product).items() if name.isupper()})

# Set by benchmarks.signup_path for its server; the defaults let the module import on its own.
_BENCH_ID = os.environ.get("NEWSDESK_BENCH_ID", "signup")
BENCH_SIGNUP_QUEUE = f"bench-{_BENCH_ID}"
BENCH_CACHE_PREFIX = f"newsdesk-bench-{_BENCH_ID}"

ROOT_URLCONF = "benchmarks.signup_urls"
SIGNUP_IP_LIMIT = 10**9

CACHES: dict[str, Any] = {
    "default": {**_product.CACHES["default"], "KEY_PREFIX": BENCH_CACHE_PREFIX},
}
CELERY_TASK_ROUTES: dict[str, Any] = {
    **_product.CELERY_TASK_ROUTES,
    # The drain a signup's kick publishes, and what the latency probe's worker sends from it.
    "mailinglist.tasks.drain_signups": {"queue": BENCH_SIGNUP_QUEUE},
    "mailinglist.tasks.send_confirmation": {"queue": BENCH_SIGNUP_QUEUE},
}
STORAGES: dict[str, Any] = {
    **_product.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
