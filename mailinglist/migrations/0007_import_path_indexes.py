# Four indexes nothing reads, which every import chunk and signup wrote (#16).
#
# - A subscription's subscriber and list had B-trees of their own, but the unique
#   (subscriber, mailing_list) leads with the one and (mailing_list, state) with the other:
#   every lookup, join and cascade by either uses those.
# - On PostgreSQL Django gives a unique or indexed CharField a twin with varchar_pattern_ops, for
#   LIKE 'prefix%' queries. Nothing matches a reader's public id or a consent event's address
#   hash by prefix (the admin's "=email_hash" search is an exact, case-insensitive match, which
#   neither index serves), so the twins of Subscriber.public_id and ConsentEvent.email_hash go.
#
# Measured with the CSV import on PostgreSQL: about a tenth of a chunk's writes. Dropped by SQL
# rather than AlterField, which on SQLite would copy the whole table to drop one index. Django's
# PostgreSQL schema editor drops a field's _like index with IF EXISTS, so a later change to
# either field still migrates.

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# Django's names for them (schema_editor._create_index_name, the same on every backend).
_FOREIGN_KEYS = {
    "mailinglist_subscription_subscriber_id_711d6444": (
        "mailinglist_subscription",
        "subscriber_id",
    ),
    "mailinglist_subscription_mailing_list_id_ebe6d0cc": (
        "mailinglist_subscription",
        "mailing_list_id",
    ),
}
_PATTERN_TWINS = {
    "mailinglist_subscriber_public_id_02c1ee0e_like": ("mailinglist_subscriber", "public_id"),
    "mailinglist_consentevent_email_hash_a13083a3_like": ("mailinglist_consentevent", "email_hash"),
}


def _twins_drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return  # only PostgreSQL has them
    for name in _PATTERN_TWINS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def _twins_create(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (table, column) in _PATTERN_TWINS.items():
        schema_editor.execute(f"CREATE INDEX {name} ON {table} ({column} varchar_pattern_ops)")


class Migration(migrations.Migration):
    dependencies = [
        ("mailinglist", "0006_consent_wording"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="subscription",
                    name="mailing_list",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="subscriptions",
                        to="mailinglist.mailinglist",
                    ),
                ),
                migrations.AlterField(
                    model_name="subscription",
                    name="subscriber",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="subscriptions",
                        to="mailinglist.subscriber",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX {name}", reverse_sql=f"CREATE INDEX {name} ON {table} ({column})"
                )
                for name, (table, column) in _FOREIGN_KEYS.items()
            ],
        ),
        migrations.RunPython(_twins_drop, _twins_create),
    ]
