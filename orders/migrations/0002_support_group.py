"""The "support" group: staff who may view orders and run the back-office transitions."""

from django.db import migrations

SUPPORT_GROUP = "support"

# (model, codename, name): the transition permissions live on the Order aggregate (its
# transitions declare them); viewing the pages needs the read models' view permissions.
PERMISSIONS = [
    ("order", "ship_order", "Can ship orders"),
    ("order", "deliver_order", "Can mark orders delivered"),
    ("order", "cancel_order", "Can cancel orders"),
    ("order", "refund_order", "Can refund orders (and cancel paid ones)"),
    ("orderview", "view_orderview", "Can view order"),
    ("customerorderstats", "view_customerorderstats", "Can view customer order statistics"),
]


def create_support_group(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    for model, codename, name in PERMISSIONS:
        # Permissions are normally made after all migrations (post_migrate); make them now.
        content_type, _ = ContentType.objects.get_or_create(app_label="orders", model=model)
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)


def remove_support_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=SUPPORT_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_support_group, remove_support_group)]
