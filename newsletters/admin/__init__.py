"""The editor's side in admin: stories and feeds, digests, recurring editions, inbound mail.

Each module registers its ModelAdmins with admin.site when imported.
"""

from newsletters.admin import digests, editions, inbound, stories

__all__ = ["digests", "editions", "inbound", "stories"]
