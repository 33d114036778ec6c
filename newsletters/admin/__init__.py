"""The editor's side in admin: stories and feeds, digests, recurring editions.

Each module registers its ModelAdmins with admin.site when imported.
"""

from newsletters.admin import digests, editions, stories

__all__ = ["digests", "editions", "stories"]
