"""Mail that comes back: bounces, complaints and mailto: unsubscribes (process.py)."""
