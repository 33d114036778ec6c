"""`python -m tests.integration.seed_digest READERS`: a digest due now, on DATABASE_URL's database.

For fault tests whose database is not the test run's own (a private PostgreSQL cluster): prints
the digest's id.
"""

from __future__ import annotations

import sys

import django


def main() -> None:
    django.setup()
    from tests.integration.cluster import scheduled_digest

    print(scheduled_digest(int(sys.argv[1])).pk)


if __name__ == "__main__":
    main()
