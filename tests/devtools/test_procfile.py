"""`make run` learns each process's pid from the line honcho's own printer writes when it starts
one; the rest of devtools/procfile.py is run for real by tests/integration/test_make_run.py."""

from __future__ import annotations

import io
from datetime import datetime

from honcho.printer import Message, Printer  # type: ignore[import-untyped]

from devtools.procfile import HONCHO_STARTED


def test_the_started_line_honcho_prints_gives_the_name_and_pid() -> None:
    output = io.StringIO()
    printer = Printer(output)
    printer.width = len("transactional")  # as honcho's Manager sets it: the longest name
    # What Manager._system_print hands the printer when a process has started.
    started = Message("line", "transactional started (pid=4242)\n", datetime.now(), "system", None)
    printer.write(started)
    match = HONCHO_STARTED.match(output.getvalue().rstrip("\n"))
    assert match is not None, output.getvalue()
    assert (match["name"], match["pid"]) == ("transactional", "4242")
    # A process's own output that merely looks like it is not taken for honcho's.
    printer.write(Message("line", "web started (pid=1)\n", datetime.now(), "web", None))
    assert HONCHO_STARTED.match(output.getvalue().splitlines()[-1]) is None
