"""Acceptance of DKIM: a digest sent by a real worker reaches the sink signed, and dkimpy verifies
it against the generated key with List-Unsubscribe and List-Unsubscribe-Post signed."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from devtools.smtp_sink import SmtpSink
from devtools.workers import database_url, own_bulk_worker
from newsletters import scheduling
from newsletters.delivery import dispatch
from newsletters.models import Digest
from tests.integration.cluster import readers_add
from tests.newsletters.digests import make_digest
from tests.operations.dkim.keyring import key_made, signed_names, verifies
from tests.polling import wait_until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_a_digest_from_the_worker_verifies_against_the_generated_key(
    transactional_db: None,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    algorithm: str,
) -> None:
    made = key_made(tmp_path, algorithm=algorithm, domain="example.com", selector="nd1")  # type: ignore[arg-type]
    # The worker's environment is this process's: it signs with the key file, as in production.
    monkeypatch.setenv("DKIM_DOMAIN", "example.com")
    monkeypatch.setenv("DKIM_SELECTOR", "nd1")
    monkeypatch.setenv("DKIM_PRIVATE_KEY_FILE", str(made.path))
    monkeypatch.setenv("DEFAULT_FROM_EMAIL", "Newsroom <briefing@news.example.com>")
    digest = make_digest(stories=3)
    readers_add(digest.mailing_list, 5, prefix=f"dkim-{algorithm}-")

    with own_bulk_worker(
        db_url=database_url(connection.settings_dict), email_url=smtp_sink.url, name="dkim"
    ):
        scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
        assert dispatch.digests_dispatch_due() == [digest.pk]
        wait_until(
            lambda: Digest.objects.filter(pk=digest.pk, state=Digest.State.SENT).exists(),
            timeout=120,
        )

    received = [r for r in smtp_sink.received if r.rcpt_tos[0].startswith(f"dkim-{algorithm}-")]
    assert len(received) == 5
    for message in received:
        assert message.raw.startswith(b"DKIM-Signature: ")
        assert f"a={algorithm}-sha256; c=relaxed/simple; d=example.com; s=nd1".encode() in (
            message.raw
        )
        assert verifies(message.raw, made.record)
        names = signed_names(message.raw)
        assert {"list-unsubscribe", "list-unsubscribe-post", "list-id", "from"} <= set(names)
        tampered = message.raw.replace(b"Story number 1", b"Story number 9", 1)
        assert tampered != message.raw and not verifies(tampered, made.record)
