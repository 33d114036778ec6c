"""Keep each subscriber's suppression hash beside the address, and fill it for existing rows."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import migrations, models


def _hash(email: str) -> str:
    # The same as mailinglist.addresses.email_hash, frozen here as migrations must be.
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def fill_hashes(apps: Any, schema_editor: Any) -> None:
    subscriber_model = apps.get_model("mailinglist", "Subscriber")
    batch = []
    for subscriber in subscriber_model.objects.only("pk", "email").iterator(chunk_size=2000):
        subscriber.email_hash = _hash(subscriber.email)
        batch.append(subscriber)
        if len(batch) >= 2000:
            subscriber_model.objects.bulk_update(batch, ["email_hash"])
            batch = []
    if batch:
        subscriber_model.objects.bulk_update(batch, ["email_hash"])


class Migration(migrations.Migration):
    dependencies = [
        ("mailinglist", "0002_import_job"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscriber",
            name="email_hash",
            field=models.CharField(default="", editable=False, max_length=64),
        ),
        migrations.RunPython(fill_hashes, migrations.RunPython.noop),
    ]
