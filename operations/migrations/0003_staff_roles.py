"""The four staff roles, shipped as groups: Editor, Publisher, Audience manager, Viewer.

A person is given a role by adding them to its group in admin (Users → Groups). Superusers keep what
no group grants: API tokens for others, the audit trail, the outbox and branding.

Permissions are normally created after all migrations run (post_migrate), so on a fresh database
they do not exist yet here: they are created first, for every app, with the historical models.
The role lists are written out in full here (not imported) so this migration stays as it landed.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_ALL = [
    "mailinglist.view_mailinglist",
    "mailinglist.view_subscriber",
    "mailinglist.view_subscription",
    "mailinglist.view_consentevent",
    "mailinglist.view_suppression",
    "mailinglist.view_importjob",
    "newsletters.view_story",
    "newsletters.view_feed",
    "newsletters.view_editionschedule",
    "newsletters.view_editionrun",
    "newsletters.view_digest",
    "newsletters.view_digeststory",
    "newsletters.view_delivery",
    "newsletters.view_digestevent",
    "operations.view_mailcheck",
]

EDITOR = [
    *VIEW_ALL,
    *(
        f"newsletters.{verb}_{model}"
        for model in ("story", "feed", "digest", "digeststory", "editionschedule")
        for verb in ("add", "change", "delete")
    ),
]

PUBLISHER = [
    *EDITOR,
    "newsletters.schedule_digest",
    "newsletters.control_digest",
    "newsletters.approve_digest",
    "operations.add_mailcheck",
]

AUDIENCE_MANAGER = [
    *VIEW_ALL,
    "mailinglist.add_mailinglist",
    "mailinglist.change_mailinglist",
    "mailinglist.delete_mailinglist",
    "mailinglist.change_subscriber",
    "mailinglist.delete_subscriber",  # erase
    "mailinglist.export_subscribers",
    "mailinglist.add_importjob",
    "mailinglist.delete_importjob",
    "mailinglist.add_suppression",
    "mailinglist.delete_suppression",
    "operations.add_mailcheck",
]

ROLES = {
    "Editor": EDITOR,
    "Publisher": PUBLISHER,
    "Audience manager": AUDIENCE_MANAGER,
    "Viewer": VIEW_ALL,
}


def roles_create(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)


def roles_remove(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("operations", "0002_api_token"),
        ("mailinglist", "0004_list_desk_settings"),
        ("newsletters", "0007_editors_desk"),
    ]

    operations = [migrations.RunPython(roles_create, roles_remove)]
