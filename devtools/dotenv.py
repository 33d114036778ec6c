"""`make run` writes the checkout's `.env` on its first run: one configuration for every command.

Without it only `make run` (which sets DEBUG=on) could start the product, and README's own
`manage.py changepassword editor` stopped with "SECRET_KEY is required when DEBUG is off". Settings
read the file (config/env_file.py); the environment wins over it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from config.env_file import env_file_path, env_file_read
from config.environment import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent

HEADER = """\
# Written by `make run` on its first run, for this checkout only. It holds a secret: never commit
# it (.gitignore leaves it out). Settings read it in every command: make run, each manage.py
# command, the workers and make test. A variable set in the environment wins over a line here.
# Lines you add (see .env.example for every variable) apply to all of those, the tests included.
"""


def dotenv_ensure(path: Path) -> bool:
    """Write `path` with DEBUG on and a fresh SECRET_KEY unless it exists; True if it wrote it.

    Never overwrites: a changed SECRET_KEY would void every link already mailed (confirmations,
    unsubscribes) and every staff session.
    """
    content = f"{HEADER}DEBUG=on\nSECRET_KEY={secrets.token_urlsafe(50)}\n"
    try:
        # O_EXCL: two `make run`s started together cannot both write; 0600: it holds a secret.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(content)
    return True


def dotenv_prepare() -> Path:
    """`make run`'s first step: `.env` written if missing, then read here as settings read it.

    Read here too so that what `make run` itself reads (PORT, REDIS_URL) agrees with the
    processes it starts.
    """
    path = env_file_path(ROOT)
    try:
        if dotenv_ensure(path):
            print(f"Wrote {path} (DEBUG on, a new SECRET_KEY): every manage.py command reads it.")
        env_file_read(ROOT)
    except OSError as exc:
        raise SystemExit(f"error: cannot write {path}: {exc.strerror}") from None
    except ConfigurationError as exc:
        raise SystemExit(f"Configuration error: {exc}") from None
    return path
