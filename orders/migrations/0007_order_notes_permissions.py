"""Internal notes and resending e-mails: two permissions on the Order aggregate, both
granted to the "support" group."""

from django.db import migrations

SUPPORT_GROUP = "support"
PERMISSIONS = [
    ("add_order_note", "Can add internal notes to orders"),
    ("resend_order_email", "Can resend an order's e-mails to its customer"),
]


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    # Permissions are normally made after all migrations (post_migrate); make them now.
    content_type, _ = ContentType.objects.get_or_create(app_label="orders", model="order")
    for codename, name in PERMISSIONS:
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    codenames = [codename for codename, _ in PERMISSIONS]
    for group in Group.objects.filter(name=SUPPORT_GROUP):
        group.permissions.remove(*group.permissions.filter(codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("orders", "0006_order_view_partial_refunds")]

    operations = [
        migrations.AlterModelOptions(
            name="order",
            options={
                "managed": False,
                "permissions": [
                    ("ship_order", "Can ship orders"),
                    ("deliver_order", "Can mark orders delivered"),
                    ("cancel_order", "Can cancel orders"),
                    ("refund_order", "Can refund orders (and cancel paid ones)"),
                    ("add_order_note", "Can add internal notes to orders"),
                    ("resend_order_email", "Can resend an order's e-mails to its customer"),
                ],
                "verbose_name": "order",
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
