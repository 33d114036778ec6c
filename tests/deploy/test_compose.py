"""compose.yaml and the Dockerfile run exactly the Procfile's commands (no Docker engine here to
run them: these read the files), with one beat, and PostgreSQL and Redis as production needs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from devtools.procfile import procfile_processes
from tests.deploy.yaml_subset import YamlSubsetError, yaml_subset_load

ROOT = Path(__file__).resolve().parents[2]
PROCFILE_RUN = "/app/deploy/procfile-run"  # WORKDIR /app in the Dockerfile


def _services() -> dict[str, Any]:
    compose = yaml_subset_load((ROOT / "compose.yaml").read_text())
    services: dict[str, Any] = compose["services"]
    return services


def _dockerfile() -> dict[str, list[str]]:
    """Instruction → its arguments, one entry per occurrence, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            instructions.setdefault(keyword.upper(), []).append(rest.strip())
    return instructions


def test_each_procfile_process_is_one_service_running_exactly_that_line() -> None:
    services = _services()
    runs = {
        name: service["command"][1]
        for name, service in services.items()
        if service.get("command", [None])[0] == PROCFILE_RUN
    }
    # Named after its process, and every process once: no second beat, no forgotten worker.
    assert runs == {name: name for name in procfile_processes()}
    for name in runs:
        service = services[name]
        assert service["command"] == [PROCFILE_RUN, name]
        assert (service["build"], service["image"]) == (".", "newsdesk:latest")
        assert service["env_file"] == ".env"
        assert service["init"] is True
        assert service["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
        assert "healthcheck" in service, f"{name} inherits the web's health check"


def test_one_beat_replica_and_the_schema_migrated_first() -> None:
    services = _services()
    assert services["beat"]["deploy"] == {"replicas": 1}
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    assert set(services["migrate"]["depends_on"]) == {"postgres", "redis"}


def test_workers_are_health_checked_by_the_names_the_procfile_gives_them() -> None:
    services = _services()
    for name in ("transactional", "worker", "long"):
        assert f"--hostname {name}@%h" in procfile_processes()[name]
        check = services[name]["healthcheck"]["test"]
        assert check[0] == "CMD-SHELL"
        assert f"inspect ping --destination {name}@$$HOSTNAME" in check[1]
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "deploy/healthcheck.py"]


def test_postgresql_and_redis_keep_their_data_and_report_health() -> None:
    services = _services()
    postgres, redis = services["postgres"], services["redis"]
    assert postgres["healthcheck"]["test"][0] == "CMD-SHELL"
    assert postgres["healthcheck"]["test"][1].startswith("pg_isready ")
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    # AOF: queued tasks survive a Redis restart.
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert redis["volumes"] == ["redis-data:/data"]


def test_the_image_is_slim_non_root_with_static_files_and_runs_web_by_default() -> None:
    docker = _dockerfile()
    assert docker["FROM"] == ["python:3.11-slim"]
    assert docker["WORKDIR"] == ["/app"]
    assert docker["USER"] == ["newsdesk"]
    assert json.loads(docker["CMD"][0]) == [PROCFILE_RUN, "web"]
    collect = [run for run in docker["RUN"] if "collectstatic --noinput" in run]
    assert len(collect) == 1
    assert "DEBUG=off" in collect[0]
    assert "healthcheck.py" in docker["HEALTHCHECK"][0]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", "var", ".venv", ".git"} <= set(ignored)


def test_the_reader_merges_anchors_as_yaml_does() -> None:
    text = 'base: &b\n  a: 1\n  b: two\nuse:\n  <<: *b\n  b: own\n  c: ["x", "y"]\n'
    assert yaml_subset_load(text)["use"] == {"a": 1, "b": "own", "c": ["x", "y"]}


@pytest.mark.parametrize(
    "text",
    [
        "a: 'single'\n",
        "a: 1\na: 2\n",
        "a:\n\t b: 1\n",
        "a: |\n  text\n",
        "a: {b: 1}\n",
        "a:\n  - b: 1\n",
        "a: b: c\n",
        "---\na: 1\n",
        "a: *missing\n",
    ],
)
def test_the_reader_refuses_what_it_does_not_read(text: str) -> None:
    with pytest.raises(YamlSubsetError):
        yaml_subset_load(text)
