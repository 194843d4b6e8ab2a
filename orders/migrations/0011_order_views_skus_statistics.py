"""Finer statistics for the SKU array of the read model. With the default target, ANALYZE
keeps too few element frequencies for tens of thousands of SKUs, the planner guesses about
1 % of orders hold any given SKU, and a search by SKU may walk the whole created_at index
instead of the GIN index that answers it in a few rows. At 1,000, ANALYZE also samples
300,000 rows, so up to that size its element statistics no longer depend on the draw."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("orders", "0010_order_event_tallies")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE order_views ALTER COLUMN skus SET STATISTICS 1000",
            "ALTER TABLE order_views ALTER COLUMN skus SET STATISTICS -1",
        ),
    ]
