"""Usernames unique ignoring case, as registration has always checked.

A database that already holds two usernames differing only in case (possible before this
constraint, through a race of two registrations) cannot take the index. Renaming someone's
login behind their back is not this migration's call, so it stops and names the accounts:
rename or merge them (admin or shell), then migrate again.
"""

from typing import Any

from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Lower


def refuse_case_duplicates(apps: Any, schema_editor: Any) -> None:
    User = apps.get_model("accounts", "User")
    clashes = (
        User.objects.annotate(folded=Lower("username"))
        .values("folded")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("folded", flat=True)
    )
    names = sorted(
        User.objects.annotate(folded=Lower("username"))
        .filter(folded__in=list(clashes))
        .values_list("username", flat=True)
    )
    if names:
        raise RuntimeError(
            "These usernames differ only in case and block the case-insensitive unique "
            f"constraint: {', '.join(names)}. Rename or merge them, then migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(refuse_case_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                Lower("username"),
                name="users_username_lower_unique",
                violation_error_message="A user with that username already exists.",
            ),
        ),
    ]
