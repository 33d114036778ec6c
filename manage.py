#!/usr/bin/env python
"""Django's command-line utility, which also reports configuration errors as one clear line."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from config.environment import ConfigurationError

    try:
        execute_from_command_line(sys.argv)
    except ConfigurationError as exc:
        # A bad environment variable is the operator's to fix: name it, skip the traceback.
        sys.exit(f"Configuration error: {exc}")


if __name__ == "__main__":
    main()
