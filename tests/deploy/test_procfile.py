"""The Procfile writes each process once: these hold it to the queues and tasks it must serve, and
hold deploy/procfile-run (what the image, compose and systemd run) to reading it as honcho does."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import psutil
from django.conf import settings

from config.celery_app import app
from devtools.procfile import PROCFILE, procfile_processes
from devtools.workers import QUEUES

ROOT = Path(__file__).resolve().parents[2]
PROCFILE_RUN = ROOT / "deploy" / "procfile-run"


def _option(argv: list[str], long: str, short: str) -> str:
    for flag in (long, short):
        if flag in argv:
            return argv[argv.index(flag) + 1]
    raise AssertionError(f"no {long} in {shlex.join(argv)}")


def _celery_workers() -> dict[str, tuple[str, set[str]]]:
    """Procfile name → (worker's node name, queues) for each `celery … worker` line."""
    workers = {}
    for name, command in procfile_processes().items():
        argv = shlex.split(command)
        if argv[:3] == ["celery", "-A", "config"] and argv[3] == "worker":
            node = _option(argv, "--hostname", "-n")
            queues = set(_option(argv, "--queues", "-Q").split(","))
            workers[name] = (node, queues)
    return workers


def test_each_process_is_named_once_and_is_one_command() -> None:
    named = re.findall(r"^([A-Za-z0-9_-]+):", PROCFILE.read_text(), flags=re.MULTILINE)
    assert sorted(named) == sorted(set(named)), "a name twice: honcho refuses the file"
    assert list(procfile_processes()) == ["web", "transactional", "worker", "long", "beat"]
    for name, command in procfile_processes().items():
        # procfile-run and make run put `exec` in front, so that the command itself gets the
        # supervisor's SIGTERM: a second command (`a && b`, `a; b`, a pipe) would not.
        tokens = list(shlex.shlex(command, posix=True, punctuation_chars=True))
        assert not {";", "&&", "||", "|", "&"} & set(tokens), f"{name} is more than one command"


def test_exactly_one_beat_and_the_web_process_uses_the_checked_in_gunicorn_config() -> None:
    commands = procfile_processes()
    beats = [name for name, command in commands.items() if " beat" in command]
    assert beats == ["beat"]
    assert shlex.split(commands["web"]) == [
        "gunicorn",
        "--config",
        "config/gunicorn.py",
        "config.wsgi",
    ]


def test_every_queue_is_consumed_by_exactly_one_named_worker() -> None:
    workers = _celery_workers()
    assert {name: queues for name, (_, queues) in workers.items()} == {
        "transactional": {"transactional"},
        "worker": {"bulk", "default"},
        "long": {"long"},
    }
    # Distinct node names: heartbeats and `celery inspect` tell the three apart on one host.
    assert {node for node, _ in workers.values()} == {
        "transactional@%h",
        "worker@%h",
        "long@%h",
    }
    configured = [str(queue.name) for queue in settings.CELERY_TASK_QUEUES]
    consumed = [queue for _, queues in workers.values() for queue in queues]
    assert sorted(consumed) == sorted(configured)


def test_every_task_routes_to_a_queue_a_procfile_worker_consumes() -> None:
    app.autodiscover_tasks(force=True)
    consumed = {queue for _, queues in _celery_workers().values() for queue in queues}
    routes = {
        name: app.amqp.router.route({}, name, (), {})["queue"].name
        for name in app.tasks
        if not name.startswith("celery.")
    }
    assert routes, "no task was discovered"
    assert {name: queue for name, queue in routes.items() if queue not in consumed} == {}
    # Long jobs on a queue of their own; the ticks that must never wait behind them elsewhere.
    assert routes["mailinglist.tasks.import_subscribers"] == "long"
    assert routes["newsletters.tasks.retain_deliveries"] == "long"
    assert routes["newsletters.tasks.dispatch_due_digests"] == "default"
    assert routes["newsletters.tasks.reconcile_deliveries"] == "default"
    assert routes["mailinglist.tasks.send_confirmation"] == "transactional"
    assert routes["newsletters.tasks.send_batch"] == "bulk"


def test_the_kits_worker_consumes_every_queue() -> None:
    # Tests start one worker for everything: a queue it skipped would never run in a test.
    assert sorted(QUEUES.split(",")) == sorted(str(q.name) for q in settings.CELERY_TASK_QUEUES)


def _procfile_run_beside(tmp_path: Path, procfile: str) -> Path:
    (tmp_path / "deploy").mkdir()
    script = tmp_path / "deploy" / "procfile-run"
    shutil.copy2(PROCFILE_RUN, script)
    (tmp_path / "Procfile").write_text(procfile)
    return script


def test_procfile_run_runs_the_named_line_with_its_expansions(tmp_path: Path) -> None:
    script = _procfile_run_beside(
        tmp_path,
        "# a comment: never a process\n"
        'greet: echo ${GREETING:-hello} from "$PWD"\n'
        "other: echo other\n",
    )
    env = {**os.environ, "GREETING": "hi"}
    done = subprocess.run([script, "greet"], env=env, capture_output=True, text=True, cwd="/")
    assert (done.returncode, done.stdout) == (0, f"hi from {tmp_path}\n")
    env.pop("GREETING")
    done = subprocess.run([script, "greet"], env=env, capture_output=True, text=True)
    assert done.stdout.startswith("hello from ")

    for argv in (["missing"], ["gre.t"], [], ["greet", "other"]):
        refused = subprocess.run([script, *argv], capture_output=True, text=True)
        assert refused.returncode == 64, argv
        assert refused.stdout == ""


def test_procfile_run_leaves_the_command_in_its_own_process(tmp_path: Path) -> None:
    script = _procfile_run_beside(tmp_path, "nap: sleep ${NAP:-30}\n")
    process = subprocess.Popen([script, "nap"], env={**os.environ, "NAP": "20"})
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(process.pid).name() != "sleep" and time.monotonic() < deadline:
            time.sleep(0.05)
        # The pid a supervisor signals is the command's, with no shell left in between.
        assert psutil.Process(process.pid).cmdline() == ["sleep", "20"]
    finally:
        process.kill()
        process.wait()


def test_procfile_run_is_executable_and_refuses_a_name_the_procfile_lacks() -> None:
    assert os.access(PROCFILE_RUN, os.X_OK)
    done = subprocess.run([PROCFILE_RUN, "nope"], capture_output=True, text=True)
    assert done.returncode == 64
    assert "no process 'nope'" in done.stderr
