# Every version of the signup form's consent text, word for word, so a consent record can show
# the exact words the reader saw (ConsentEvent.form_version names a row by its version).

import hashlib
from typing import Any

from django.db import migrations, models

# The wording the form has shown since the first release, frozen here as migrations must be:
# every consent record made before this migration carries its version, so they show it too.
FIRST_WORDING = (
    "We'll email you the newsletters you pick. Every email has a link to change what you get "
    "or to unsubscribe in one click."
)


def first_wording_add(apps: Any, schema_editor: Any) -> None:
    ConsentWording = apps.get_model("mailinglist", "ConsentWording")
    version = hashlib.sha256(FIRST_WORDING.encode()).hexdigest()[:16]
    ConsentWording.objects.get_or_create(version=version, defaults={"text": FIRST_WORDING})


class Migration(migrations.Migration):
    dependencies = [
        ("mailinglist", "0005_dashboard_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConsentWording",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "version",
                    models.CharField(
                        help_text="The form_version that consent records carry.",
                        max_length=64,
                        unique=True,
                    ),
                ),
                (
                    "text",
                    models.TextField(help_text="The consent text exactly as the form showed it."),
                ),
                ("first_seen_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["-first_seen_at", "-id"],
            },
        ),
        migrations.RunPython(first_wording_add, migrations.RunPython.noop),
    ]
