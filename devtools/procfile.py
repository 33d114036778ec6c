"""The Procfile's processes under honcho, for `make run`.

`python -m devtools.procfile` is `honcho start` without two of its habits that clash with
settings: it reads `.env` itself and lets the file win over the environment (settings let the
environment win, config/env_file.py), and it gives each process type a PORT of its own (8000,
8100, …), which settings read for SITE_URL's default, so a worker's links would point at the wrong
port. Here honcho's Manager runs every process with this process's environment as it is, each line
as deploy/procfile-run runs it (`exec` in front, so the process honcho watches and signals is the
command itself, not a shell around it), and stops them all when one stops or on SIGTERM.

`ProcfileRun` is run.py's handle on that process. It owns no signal handler of honcho's: it sends
SIGTERM only once honcho has reported every process started (honcho's handler looks up each
process's pid and fails with a KeyError on one not yet reported, leaving the rest running), and
afterwards kills whatever is left of each process group honcho reported, so nothing outlives
`make run` even if honcho died. Should run.py itself die (SIGKILL, a crash), this process notices
it has lost its parent and stops every process as on SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from honcho.environ import parse_procfile  # type: ignore[import-untyped]
from honcho.manager import Manager  # type: ignore[import-untyped]
from honcho.printer import Printer  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
# honcho's Printer on its own "started" event: "12:00:00 system | web started (pid=42)".
HONCHO_STARTED = re.compile(
    r"^\S+ system\s*\| (?P<name>[A-Za-z0-9_-]+) started \(pid=(?P<pid>\d+)\)$"
)


def procfile_processes(path: Path = PROCFILE) -> dict[str, str]:
    """Process name → command, in the Procfile's order, read as honcho reads it."""
    return dict(parse_procfile(path.read_text(encoding="utf-8")).processes)


class ProcfileRun:
    """`python -m devtools.procfile` in a session of its own, its output relayed to ours."""

    def __init__(self, *, env: dict[str, str]) -> None:
        self.names = list(procfile_processes())
        self.pids: dict[str, int] = {}
        self.all_started = threading.Event()
        # A session of its own: the terminal's Ctrl-C reaches only run.py, which decides when
        # honcho hears of it.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.procfile"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._relay = threading.Thread(target=self._relay_output, daemon=True)
        self._relay.start()

    def _relay_output(self) -> None:
        assert self.process.stdout is not None
        for raw in iter(self.process.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            sys.stdout.write(line)
            sys.stdout.flush()
            started = HONCHO_STARTED.match(line.rstrip("\r\n"))
            if started:
                self.pids[started["name"]] = int(started["pid"])
                if set(self.names) <= set(self.pids):
                    self.all_started.set()

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, *, timeout: float = 30.0) -> None:
        """Stop every process (honcho: SIGTERM to each, SIGKILL 5 s after the first has ended)."""
        deadline = time.monotonic() + 15
        while self.running() and not self.all_started.wait(0.1) and time.monotonic() < deadline:
            pass
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        # Each process leads a process group of its own; what is left of one (a pool child whose
        # parent was killed, or all of it if honcho itself died) goes now.
        for pid in [*self.pids.values(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        self.process.wait()
        self._relay.join(timeout=5)


class _Printer(Printer):  # type: ignore[misc]
    def write(self, message: object) -> None:
        # Once run.py has gone, its end of the pipe is closed; stopping goes on without output.
        with contextlib.suppress(BrokenPipeError):
            super().write(message)


def _stop_when_orphaned(manager: Manager, parent: int) -> None:
    # Every process leads a session of its own, so nothing else would stop them: when run.py is
    # gone (this process re-parented), stop them as its SIGTERM would have.
    while os.getppid() == parent:
        time.sleep(0.5)
    manager.terminate()


def main() -> int:
    manager = Manager(_Printer(sys.stdout))
    for name, command in procfile_processes().items():
        manager.add_process(name, f"exec {command}", env=dict(os.environ), cwd=str(ROOT))
    threading.Thread(target=_stop_when_orphaned, args=(manager, os.getppid()), daemon=True).start()
    manager.loop()
    return int(manager.returncode or 0)


if __name__ == "__main__":
    sys.exit(main())
