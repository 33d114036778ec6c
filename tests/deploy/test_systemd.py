"""The systemd units run exactly the Procfile's commands, and `systemd-analyze verify` finds nothing
wrong with them: run on copies whose /srv/newsdesk is a temporary directory holding the real
procfile-run, since verify checks that each ExecStart's program exists and is executable."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from devtools.procfile import procfile_processes

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
HOME = "/srv/newsdesk"


def _settings(unit: Path) -> dict[str, list[str]]:
    """Key → its values in the unit (a key may repeat), comments and section headers left out."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_one_unit_per_procfile_process_running_exactly_that_line() -> None:
    services = sorted(path.name for path in UNITS.glob("*.service"))
    assert services == sorted(f"newsdesk-{name}.service" for name in procfile_processes())
    for name in procfile_processes():
        unit = _settings(UNITS / f"newsdesk-{name}.service")
        assert unit["ExecStart"] == [f"{HOME}/deploy/procfile-run {name}"]
        assert unit["WorkingDirectory"] == [HOME]
        assert unit["EnvironmentFile"] == [f"{HOME}/.env"]
        assert unit["User"] == ["newsdesk"]
        assert unit["Restart"] == ["always"]
        assert unit["PartOf"] == unit["WantedBy"] == ["newsdesk.target"]


def test_every_unit_is_hardened_alike() -> None:
    hardening = {
        "NoNewPrivileges": ["yes"],
        "ProtectSystem": ["strict"],
        "ReadWritePaths": [f"{HOME}/var"],
        "PrivateTmp": ["yes"],
        "ProtectHome": ["yes"],
    }
    for path in UNITS.glob("*.service"):
        unit = _settings(path)
        assert {key: unit.get(key) for key in hardening} == hardening, path.name


def _verify(units: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
    )


def _copies(tmp_path: Path) -> list[Path]:
    (tmp_path / "deploy" / "systemd").mkdir(parents=True)
    shutil.copy2(ROOT / "deploy" / "procfile-run", tmp_path / "deploy" / "procfile-run")
    copies = []
    for unit in sorted(UNITS.iterdir()):
        copy = tmp_path / "deploy" / "systemd" / unit.name
        copy.write_text(unit.read_text().replace(HOME, str(tmp_path)))
        copies.append(copy)
    return copies


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here"
)
def test_systemd_analyze_verify_finds_nothing_and_would_find_a_fault(tmp_path: Path) -> None:
    copies = _copies(tmp_path)
    clean = _verify(copies)
    # Unknown keys and bad values only warn (exit 0): a clean unit prints nothing at all.
    assert (clean.returncode, clean.stderr, clean.stdout) == (0, "", "")

    # The same check fails where a unit is wrong: it really reads what it is given.
    web = next(copy for copy in copies if copy.name == "newsdesk-web.service")
    web.write_text(web.read_text().replace("ProtectSystem=strict", "ProtectSystem=strictly"))
    (tmp_path / "deploy" / "procfile-run").chmod(0o644)
    broken = _verify(copies)
    assert "ignoring: strictly" in broken.stderr
    assert broken.returncode != 0
    assert "is not executable" in broken.stderr
