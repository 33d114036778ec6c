"""The env file settings read first: its variables apply, the environment's win, bad lines stop."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config.env_file import env_file_path, env_file_read
from config.environment import ConfigurationError

# Names no setting reads, so that loading them into this process changes nothing else.
FROM_FILE = "NEWSDESK_TEST_FROM_FILE"
IN_BOTH = "NEWSDESK_TEST_IN_BOTH"
QUOTED = "NEWSDESK_TEST_QUOTED"


@pytest.fixture
def env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / ".env"
    monkeypatch.setenv("ENV_FILE", str(path))
    for name in (FROM_FILE, IN_BOTH, QUOTED):
        # Set, then unset, through monkeypatch: whatever the loader sets is undone after the test.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return path


def test_the_files_variables_apply_and_the_environment_wins(
    env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file.write_text(
        "# a comment\n\n"
        f"{FROM_FILE}=from the file\n"
        f"export {IN_BOTH}=from the file\n"
        f'  {QUOTED}="The Example News <news@example.com>"  \n'
    )
    monkeypatch.setenv(IN_BOTH, "from the environment")

    assert env_file_read(Path("/unused")) == env_file

    assert os.environ[FROM_FILE] == "from the file"
    assert os.environ[IN_BOTH] == "from the environment"
    assert os.environ[QUOTED] == "The Example News <news@example.com>"


def test_without_env_file_it_is_the_dotenv_beside_manage_py(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENV_FILE", raising=False)

    assert env_file_path(tmp_path) == tmp_path / ".env"
    assert env_file_read(tmp_path) is None  # none there: the environment says everything


def test_a_missing_file_named_by_env_file_is_an_error(env_file: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"ENV_FILE names .*\.env, which does not exist"):
        env_file_read(Path("/unused"))


def test_a_malformed_line_is_named_by_its_number_never_echoed(env_file: Path) -> None:
    env_file.write_text(f"{FROM_FILE}=fine\nSECRET_KEY = hunter2-secret\n")

    with pytest.raises(ConfigurationError) as raised:
        env_file_read(Path("/unused"))

    assert "line 2: expected NAME=value" in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert FROM_FILE not in os.environ  # nothing applied from a file that is wrong


def test_a_file_that_is_not_text_is_an_error(env_file: Path) -> None:
    env_file.write_bytes(b"DEBUG=on\n\xff\xfe\n")

    with pytest.raises(ConfigurationError, match="is not UTF-8 text"):
        env_file_read(Path("/unused"))
