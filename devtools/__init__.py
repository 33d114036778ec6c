"""Tooling behind `make run` and `make test` (not imported by the product itself)."""
