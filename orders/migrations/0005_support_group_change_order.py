"""The "support" group may also change customers' DRAFT orders (lines, shipping address,
confirm) on their behalf: `orders.change_order`, which staff now need for that."""

from django.db import migrations

SUPPORT_GROUP = "support"


def grant_change_order(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    # Permissions are normally made after all migrations (post_migrate); make it now.
    content_type, _ = ContentType.objects.get_or_create(app_label="orders", model="order")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="change_order", defaults={"name": "Can change order"}
    )
    group.permissions.add(permission)


def revoke_change_order(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name=SUPPORT_GROUP):
        group.permissions.remove(*group.permissions.filter(codename="change_order"))


class Migration(migrations.Migration):
    dependencies = [("orders", "0004_order_tallies")]

    operations = [migrations.RunPython(grant_change_order, revoke_change_order)]
