"""The roles Viewer, Editor and Administrator as Django groups (kgsite/roles.py, docs/roles.md)."""

from django.db import migrations

from kgsite.roles import ROLES, roles_sync


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are made after migrate (post_migrate); make them now so that the groups get theirs.
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    roles_sync(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('kgsite', '0004_is_active_help_text'),
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('graph', '0020_rebuild_vector_index_permission'),
        ('config_admin', '0004_apply_postgres_settings_permission'),
    ]

    operations = [
        migrations.RunPython(create_roles, drop_roles),
    ]
