"""The checkout's `.env`: one configuration for every command.

`make run` writes `.env` on its first run (DEBUG on and a generated SECRET_KEY, see
devtools/dotenv.py) and settings read it before anything else, so `manage.py changepassword` sees
what `make run` sees. A variable set in the environment always wins over the file: a systemd unit,
a CI job or `DEBUG=off manage.py check --deploy` overrides it without editing it. In production
there is usually no `.env` at all and the environment says everything.

ENV_FILE names another file instead (the tests point it at their own, or at os.devnull to read
none).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import environ

from config.environment import ConfigurationError, read_str

# django-environ's grammar for a line. It would skip any other line with a log message that
# echoes the line (a secret, as likely as not); we stop instead, naming only the line number.
_ASSIGNMENT = re.compile(r"\A(?:export )?[A-Za-z_0-9]+=.*\Z")


def env_file_path(base_dir: Path) -> Path:
    """The file settings read: ENV_FILE if set, else `.env` beside manage.py."""
    named = read_str("ENV_FILE", default=None)
    return Path(named) if named else base_dir / ".env"


def env_file_read(base_dir: Path) -> Path | None:
    """Load the file's variables into os.environ, never over one the environment already has.

    Returns the file read, or None when there is no `.env`. An ENV_FILE naming a file that is not
    there is an error: the operator meant some configuration to apply.
    """
    path = env_file_path(base_dir)
    if not path.exists():
        if read_str("ENV_FILE", default=None) is not None:
            raise ConfigurationError(f"ENV_FILE names {path}, which does not exist.")
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{path} is not UTF-8 text.") from None
    except OSError as exc:
        raise ConfigurationError(f"{path} cannot be read: {exc.strerror}.") from None
    assignments: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not _ASSIGNMENT.match(stripped):
            raise ConfigurationError(
                f"{path}, line {number}: expected NAME=value (no spaces around '='), "
                "or a comment starting with '#'."
            )
        assignments.append(stripped)
    environ.Env.read_env(io.StringIO("\n".join(assignments)), overwrite=False)
    return path
