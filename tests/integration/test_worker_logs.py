"""A worker with LOG_FORMAT=json logs JSON lines, and a batch's lines name its digest and batch."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from devtools.workers import database_url, own_bulk_worker
from newsletters.delivery import snapshot
from newsletters.models import Delivery
from tests.newsletters.digests import sending_digest
from tests.polling import wait_until

pytestmark = pytest.mark.integration
# Celery's own line format, which a worker would use had it taken the root logger over.
CELERY_FORMAT = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+: [A-Z]+/")


def _records(log_path: Path | None) -> list[dict[str, Any]]:
    assert log_path is not None
    lines = log_path.read_text(errors="replace").splitlines()
    assert not [line for line in lines if CELERY_FORMAT.match(line)]
    # The rest of the file is the banner (stdout) and Python's warnings: not log records.
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_a_json_workers_batch_lines_carry_the_digest_and_batch(
    transactional_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")  # the worker's environment is this one's
    digest = sending_digest(readers=2, email="jsonlog{n}@example.com")

    with own_bulk_worker(
        db_url=database_url(connection.settings_dict),
        email_url="smtp://127.0.0.1:1",  # nothing listens: the batch halts, and says so
        name="jsonlogs",
    ) as worker:
        snapshot.digest_snapshot(digest_id=digest.pk)  # committed: its batch goes to the worker
        about_digest = wait_until(
            lambda: [r for r in _records(worker.log_path) if r.get("digest_id") == digest.pk],
            timeout=60,
        )
        records = _records(worker.log_path)

    assert any(r["logger"] == "celery.apps.worker" and "ready" in r["message"] for r in records)
    [first, *_] = about_digest
    assert first["level"] == "WARNING" and first["logger"].startswith("newsletters.delivery")
    assert {"time", "level", "logger", "message"} <= set(first)
    low, high = (int(end) for end in first["batch"].split("-"))
    rows = Delivery.objects.filter(digest=digest).values_list("pk", flat=True)
    assert all(low <= pk <= high for pk in rows)
