"""The signup benchmark's server: production-like settings and one gunicorn serving them.

Split from signup_path.py, which measures against it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.signup_client import FORM_PATH, http_get, http_request

ROOT = Path(__file__).resolve().parent.parent


def bench_environment(*, port: int, tmp: Path, bench_id: str) -> None:
    """Production-like settings for this process and the server it starts (inherited env)."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "benchmarks.signup_settings",
            "NEWSDESK_BENCH_ID": bench_id,
            "DEBUG": "off",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SITE_URL": f"http://127.0.0.1:{port}",
            "ALLOWED_HOSTS": "127.0.0.1",
            "MAILING_ADDRESS": "Bench, 1 Example Street, Springfield",
            "DEFAULT_FROM_EMAIL": "Bench <newsletter@news.example.com>",
        }
    )
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'bench.sqlite3'}")


@contextmanager
def gunicorn(
    *, port: int, workers: int, threads: int, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The product's web process: config/gunicorn.py (gthread) with `threads` threads a worker.

    `threads` 0 runs sync workers instead, as the bench did before #16 (kept for comparison).
    """
    if threads:
        command = ["--config", "config/gunicorn.py", "--log-level", "warning"]
        env = {"PORT": str(port), "WEB_HOST": "127.0.0.1"}
        env |= {"WEB_CONCURRENCY": str(workers), "WEB_THREADS": str(threads)}
    else:
        command = ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        command += ["--worker-class", "sync", "--log-level", "warning"]
        env = {}
    with open(log, "wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *command, "config.wsgi:application"],
            cwd=ROOT,
            env=os.environ | env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    status, _, _ = http_request(port, http_get(port, FORM_PATH))
                except OSError:
                    status = 0
                if status == 200:
                    break
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"gunicorn did not serve {FORM_PATH} ({status}):\n{log_tail(log)}")
                time.sleep(0.2)
            yield server
        except BaseException:
            print(f"gunicorn log:\n{log_tail(log)}", file=sys.stderr)
            raise
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def bench_cleanup(*, nonce: str, list_slug: str | None, own_database: bool) -> None:
    """Delete what the bench put in Redis, and in the database when it is not a throw-away one
    (with the list, when the bench created it: `list_slug`)."""
    from benchmarks.signup_settings import BENCH_CACHE_PREFIX, BENCH_SIGNUP_QUEUE
    from operations.redis_client import redis_client

    client = redis_client()
    queue = BENCH_SIGNUP_QUEUE
    keys = [queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"]
    keys += list(client.scan_iter(match=f"{queue}\x06\x16*"))  # priority lists, if any
    keys += list(client.scan_iter(match=f"{BENCH_CACHE_PREFIX}:*"))
    client.delete(*keys)
    if not own_database:
        from mailinglist.models import MailingList, SignupRequest

        SignupRequest.objects.filter(email__startswith=f"b{nonce}-").delete()
        if list_slug is not None:
            MailingList.objects.filter(slug=list_slug).delete()
