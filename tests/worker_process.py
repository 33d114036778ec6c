"""Moved to devtools.workers; these names stay only until every user is moved."""

from devtools.workers import (
    QUEUES,
    ROOT,
    Worker,
    database_url,
    own_bulk_worker,
    shared_worker_name,
)


class WorkerProcess(Worker):
    """The old constructor: a named worker logging to var/<name's prefix>.log."""

    def __init__(
        self, *, env: dict[str, str], name: str, concurrency: int = 2, queues: str = QUEUES
    ) -> None:
        super().__init__(
            env=env,
            name=name,
            concurrency=concurrency,
            queues=queues,
            log_path=ROOT / "var" / f"{name.split('@')[0]}.log",
        )


__all__ = ["ROOT", "WorkerProcess", "database_url", "own_bulk_worker", "shared_worker_name"]
