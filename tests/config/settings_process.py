"""Settings started in a process of their own, with exactly the variables a test gives them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What production must set (DEBUG off); a test changes or unsets ("<unset>") one at a time.
PRODUCTION = {
    "DEBUG": "off",
    "SECRET_KEY": "x" * 50,
    "SITE_URL": "https://news.example.com",
    "MAILING_ADDRESS": "1 Example Street",
    "DEFAULT_FROM_EMAIL": "The Example News <newsletter@news.example.com>",
    # A developer's .env (which `make run` writes) must not fill in what a test leaves unset.
    "ENV_FILE": os.devnull,
}
UNSET = "<unset>"


def python_run(
    overrides: dict[str, str], *args: str, clear: Iterable[str] = ()
) -> subprocess.CompletedProcess[str]:
    """`python ARGS` in the checkout: this process's environment without PRODUCTION's and
    `clear`'s variables, then `overrides` (a value of UNSET leaves that variable out)."""
    dropped = {*PRODUCTION, *clear, *overrides}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update({k: v for k, v in overrides.items() if v != UNSET})
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )
