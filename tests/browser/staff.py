"""A person at the admin: log in through the login form, and watch for script errors."""

from __future__ import annotations

from typing import Any


def log_in(page: Any, base_url: str, *, username: str, password: str, next_path: str = "") -> None:
    page.goto(f"{base_url}/admin/login/?next=/admin/{next_path.lstrip('/')}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def script_errors(page: Any) -> list[str]:
    """Uncaught exceptions and console errors from now on, collected into the returned list."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    return errors
