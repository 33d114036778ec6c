"""The delivery engine: a due digest to one recorded outcome per reader (docs/architecture.md)."""
