"""Back-office search on order_views: an index on the short reference (the id's first 8
characters, as e-mails show it), and the lines' SKUs in lower case (`skus`, written by
the projection; filled here for the rows already there) with a GIN index."""

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import django.db.models.functions.text
from django.db import migrations, models

BACKFILL_SKUS = """
UPDATE order_views SET skus = coalesce(
    (SELECT jsonb_agg(DISTINCT lower(line->>'sku') ORDER BY lower(line->>'sku'))
     FROM jsonb_array_elements(items) AS line),
    '[]'::jsonb)
"""


class Migration(migrations.Migration):
    dependencies = [("orders", "0007_order_notes_permissions")]

    operations = [
        migrations.AddField(
            model_name="orderview",
            name="skus",
            field=models.JSONField(default=list),
        ),
        migrations.RunSQL(BACKFILL_SKUS, migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="orderview",
            index=models.Index(
                django.db.models.functions.text.Left(
                    django.db.models.functions.comparison.Cast("order_id", models.TextField()), 8
                ),
                name="order_views_short_ref",
            ),
        ),
        migrations.AddIndex(
            model_name="orderview",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["skus"], name="order_views_skus", opclasses=["jsonb_path_ops"]
            ),
        ),
    ]
