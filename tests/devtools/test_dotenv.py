"""`make run`'s first run writes `.env` once; every manage.py command then sees it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from devtools.dotenv import dotenv_ensure

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY)"


def _lines(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs if not name.startswith("#")}


def test_it_writes_debug_on_and_a_fresh_secret_key_once(tmp_path: Path) -> None:
    path = tmp_path / ".env"

    assert dotenv_ensure(path) is True
    first = path.read_text()
    assert dotenv_ensure(path) is False

    assert path.read_text() == first  # never overwritten: mailed links depend on the key
    values = _lines(path)
    assert values.keys() == {"DEBUG", "SECRET_KEY"}
    assert values["DEBUG"] == "on"
    assert len(values["SECRET_KEY"]) >= 50
    assert first.startswith("# Written by `make run`")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds a secret

    other = tmp_path / "other.env"
    dotenv_ensure(other)
    assert _lines(other)["SECRET_KEY"] != values["SECRET_KEY"]


def _manage_shell(env_file: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    env.update(ENV_FILE=str(env_file), **extra)
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_manage_py_commands_see_what_make_run_wrote_and_the_environment_wins(
    tmp_path: Path,
) -> None:
    path = tmp_path / ".env"
    dotenv_ensure(path)
    key = _lines(path)["SECRET_KEY"]

    from_file = _manage_shell(path)
    overridden = _manage_shell(path, DEBUG="on", SECRET_KEY="from-the-environment-" + "k" * 40)

    # Without .env this is "SECRET_KEY is required when DEBUG is off".
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout.split() == ["True", key]
    assert overridden.stdout.split() == ["True", "from-the-environment-" + "k" * 40]
