# A digest's report and the dashboard find the few ledger rows worth a second look (an ESP's note
# on a sent row, a claim that expired) without reading the digest's whole ledger. Both indexes
# are partial: the send path never writes them. Building them reads the ledger once; on a very
# large one, migrate at a quiet hour (PostgreSQL holds writes to the table while it builds).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("newsletters", "0007_editors_desk"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("state", "sent"), models.Q(("last_error", ""), _negated=True)),
                fields=["digest", "state"],
                name="delivery_noted",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("expired_claims__gt", 0)),
                fields=["digest"],
                name="delivery_possible_duplicate",
            ),
        ),
    ]
