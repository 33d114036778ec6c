"""The audit trail: every staff action on the audience and the content, with who, when, what and
from where. `records.audit_record` is the one way in; `admin_logging.AuditedAdmin` records admin
adds, changes and deletions; the trail is read in admin by superusers and never edited there.

This app imports neither `mailinglist` nor `newsletters`: both record into it.
"""
