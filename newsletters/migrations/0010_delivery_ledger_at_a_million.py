# The ledger at a million readers (#16). Three changes.
#
# The reconciler's partial index over the rows being sent is keyed on the id, not claimed_at.
# The sent mark (WHERE id = … AND claimed_by = … AND state = 'sending') implies the index's
# condition, and when the table's statistics saw no row being sent (after any ANALYZE between
# sends) PostgreSQL costed that index as empty and planned the mark through it: a scan of every
# row being sent, and a heap fetch each, to find one id. Measured: 1.8 ms a mark with 3,000 rows
# claimed, against ~0.02 ms by the id; the ledger_record bench at 20,000 rows ran for minutes.
# Keyed on the id, either index finds the mark's row in one descent.
#
# The reader's index, which only an erasure's cascade reads, becomes a BRIN on PostgreSQL (a
# B-tree elsewhere): a snapshot no longer inserts into a second large B-tree for every row.
#
# The table's autovacuum thresholds become a share of the ledger fit for it, not PostgreSQL's
# defaults (20% of the table): a send leaves two dead row versions per reader (the claim, the
# mark), so on a 30-day ledger of 30 million rows the default waited for three sends' dead
# rows before vacuuming.
#
# The old B-tree is dropped by SQL rather than by AlterField, which on SQLite would copy the
# whole table to drop one index. Building the BRIN reads the ledger once (seconds at a million
# rows); PostgreSQL holds writes to the table meanwhile: migrate at a quiet hour.

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

import newsletters.range_index

_OLD_INDEX = "newsletters_delivery_subscriber_id_469de33d"
_OLD_INDEX_CREATE = f"CREATE INDEX {_OLD_INDEX} ON newsletters_delivery (subscriber_id)"

# Vacuum once ~5% of the ledger is dead or newly inserted (a million-reader send on a 30-day
# ledger: about once per send), analyse at 2% (the planner learns of a new digest's rows soon).
_AUTOVACUUM = {
    "autovacuum_vacuum_scale_factor": "0.05",
    "autovacuum_vacuum_insert_scale_factor": "0.05",
    "autovacuum_analyze_scale_factor": "0.02",
}


def _autovacuum_set(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite has no autovacuum thresholds; its ledger is unchanged
    settings = ", ".join(f"{name} = {value}" for name, value in _AUTOVACUUM.items())
    schema_editor.execute(f"ALTER TABLE newsletters_delivery SET ({settings})")


def _autovacuum_reset(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE newsletters_delivery RESET ({', '.join(_AUTOVACUUM)})")


class Migration(migrations.Migration):
    dependencies = [
        ("mailinglist", "0006_consent_wording"),
        ("newsletters", "0009_inbound_events"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="subscriber",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="deliveries",
                        to="mailinglist.subscriber",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX {_OLD_INDEX}",
                    reverse_sql=_OLD_INDEX_CREATE,
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=newsletters.range_index.BlockRangeIndex(
                fields=["subscriber"], name="delivery_subscriber", pages_per_range=16
            ),
        ),
        migrations.RemoveIndex(model_name="delivery", name="delivery_sending_claimed"),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("state", "sending")), fields=["id"], name="delivery_sending"
            ),
        ),
        migrations.RunPython(_autovacuum_set, _autovacuum_reset),
    ]
