# The newsroom dashboard counts consent events of one kind per day, and bounces and complaints
# per day, from these indexes rather than by reading every row ever recorded.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mailinglist", "0004_list_desk_settings"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="consentevent",
            index=models.Index(fields=["kind", "at"], name="consent_kind_at"),
        ),
        migrations.AddIndex(
            model_name="suppression",
            index=models.Index(fields=["reason", "created_at"], name="suppression_reason_created"),
        ),
    ]
