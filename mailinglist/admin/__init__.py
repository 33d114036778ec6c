"""The staff side of the audience: lists with their counts, subscribers, CSV import and export.

Consent changes only through subscriptions.py (the actions here) and imports.py (CSV), which
record a ConsentEvent for each; an edit form would not. So subscriptions and consent events are
shown read-only, and a subscriber is never deleted, only erased, which leaves the suppression
entry that stops an import or a stale list from bringing the address back.
"""

# Each module registers its ModelAdmins with admin.site when imported.
from mailinglist.admin import consent, import_jobs, lists, subscribers

__all__ = ["consent", "import_jobs", "lists", "subscribers"]
