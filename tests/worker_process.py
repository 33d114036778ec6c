"""Moved to devtools.workers; these names stay only until every user is moved."""

from devtools.workers import ROOT, Worker, database_url, own_bulk_worker, shared_worker_name

WorkerProcess = Worker

__all__ = ["ROOT", "WorkerProcess", "database_url", "own_bulk_worker", "shared_worker_name"]
