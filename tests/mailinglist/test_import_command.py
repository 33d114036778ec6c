"""`manage.py import_subscribers FILE --list SLUG [--consented NOTE]`."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from devtools.workers import ROOT, database_url
from mailinglist import imports
from mailinglist.models import ConsentEvent, ImportJob, MailingList, Subscription
from tests.factories import MailingListFactory

State = Subscription.State


@pytest.fixture
def daily(db: None) -> MailingList:
    return MailingListFactory.create(slug="daily", name="Daily")


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_subscribers", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_a_file_with_a_progress_bar_and_reports_bad_rows_by_line(
    daily: MailingList, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(imports, "CHUNK_SIZE", 10)
    lines = ["email,name"] + [f"reader{n}@example.com,Reader {n}" for n in range(25)]
    lines[8] = "reader 7 at example.com,Broken"
    path = tmp_path / "readers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    out, err = _run(str(path), "--list", "daily", "--consented", "Signed up at the fair, May 2024")

    frames = err.split("\r")
    assert frames[1].startswith("[############..................] 40% 10/25")
    assert frames[-1].strip() == "[##############################] 100% 25/25"
    assert "added to the list:            24" in out
    assert "invalid rows:                 1" in out
    assert "line 9: 'reader 7 at example.com': An email address cannot contain spaces" in out
    job = ImportJob.objects.get()
    assert (job.state, job.uploaded_by, job.is_consented) == (ImportJob.State.DONE, None, True)
    assert Subscription.objects.filter(mailing_list=daily, state=State.ACTIVE).count() == 24
    event = ConsentEvent.objects.filter(kind=ConsentEvent.Kind.IMPORT).first()
    assert event is not None
    assert event.detail == {
        "consent": "Signed up at the fair, May 2024",
        "job": job.pk,
        "by": "manage.py import_subscribers",
    }


def test_without_consented_the_new_subscribers_wait_for_their_confirmation(
    daily: MailingList, tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    path = tmp_path / "readers.csv"
    path.write_text("email\nfirst@cmd-a.example.com\nsecond@cmd-a.example.com\n")

    with django_capture_on_commit_callbacks(execute=False):
        out, _ = _run(str(path), "--list", "daily")

    assert set(Subscription.objects.values_list("state", flat=True)) == {State.PENDING}
    assert "pending until they confirm" in out


@pytest.mark.parametrize(
    ("content", "slug", "message"),
    [
        (None, "daily", "Cannot read"),
        (b"email\nada@example.com\n", "nope", "No mailing list 'nope'. Lists: daily."),
        (b"\xff\xfee\x00m\x00", "daily", "not UTF-8"),
        (b"name\nAda\n", "daily", "“email” column"),
    ],
)
def test_a_missing_list_or_an_unreadable_file_is_a_clear_error(
    daily: MailingList, tmp_path: Path, content: bytes | None, slug: str, message: str
) -> None:
    path = tmp_path / "readers.csv"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(CommandError, match=message):
        _run(str(path), "--list", slug)

    assert not ImportJob.objects.exists()


def test_from_the_shell_an_error_is_one_line_and_a_non_zero_exit(db: None, tmp_path: Path) -> None:
    env = {**os.environ, "DEBUG": "on", "DATABASE_URL": database_url(connection.settings_dict)}

    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "import_subscribers",
            str(tmp_path / "no.csv"),
            "--list",
            "x",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stderr.startswith("CommandError: No mailing list 'x'.")
    assert "Traceback" not in result.stderr
