"""The "support" group may look at sagas (the order page links to its saga); acting on
one (retry, compensate, resolve) stays a separate permission each."""

from django.db import migrations

SUPPORT_GROUP = "support"


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    content_type, _ = ContentType.objects.get_or_create(app_label="sagas", model="sagainstance")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="view_sagainstance",
        defaults={"name": "Can view saga instance"},
    )
    group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name=SUPPORT_GROUP):
        group.permissions.remove(*group.permissions.filter(codename="view_sagainstance"))


class Migration(migrations.Migration):
    dependencies = [
        ("sagas", "0002_saga_permissions"),
        ("orders", "0002_support_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
