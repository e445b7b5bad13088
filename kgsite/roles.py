"""Roles: three Django groups whose permissions follow from the rules below (docs/roles.md).

* **Viewer** reads every page and the admin and changes nothing: every ``view_*`` permission of the graph and the
  configuration.
* **Editor** also edits the graph, resources and references, reviews inferred links, merges and reverts, queues
  inference, refreshes views and imports: add, change and delete on ``EDITED_MODELS`` and the graph's own
  actions (``EDITOR_ACTIONS``).
* **Administrator** may do everything: every permission of the graph, the configuration (including applying it
  to PostgreSQL), users and groups (so also vector-index rebuilds), and the login-throttling records (to
  release a locked-out account early).

The rules are patterns over ``app_label.codename``, so a model added later joins the roles it belongs to. A
migration creates the groups (``kgsite.0005``), and after every ``migrate`` (``post_migrate``) each group is set
to exactly the permissions its rules give: a permission granted by hand to a role group is taken away again,
so grant extra rights to a user, or to a group of your own, never to these three.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

VIEWER, EDITOR, ADMINISTRATOR = "Viewer", "Editor", "Administrator"

# The graph's tables a curator edits (what import, merge and revert write too).
EDITED_MODELS = ("node", "nodeattribute", "relationship", "externalresource", "noderesourcelink", "reference",
                 "importjob", "inferencequeueitem", "inferencerejection", "distinctpair", "duplicatecandidate",
                 "embeddingqueueitem")
EDITOR_ACTIONS = ("graph.merge_node", "graph.revert_history", "graph.review_relationship",
                  "graph.refresh_materialized_views")

_VIEW = ("graph.view_*", "config_admin.view_*")
ROLES: dict[str, tuple[str, ...]] = {
    VIEWER: _VIEW,
    EDITOR: _VIEW + tuple(f"graph.{action}_{model}" for model in EDITED_MODELS
                          for action in ("add", "change", "delete")) + EDITOR_ACTIONS,
    ADMINISTRATOR: ("graph.*", "config_admin.*", "kgsite.*", "auth.*", "axes.*"),
}


def role_permissions(role: str, available: list[str]) -> list[str]:
    """The ``app_label.codename`` permissions among ``available`` that ``role``'s rules give."""
    patterns = ROLES[role]
    return [name for name in available if any(fnmatchcase(name, pattern) for pattern in patterns)]


def roles_sync(group_model, permission_model) -> None:
    """Create the role groups if missing and give each exactly the permissions its rules give. Takes the models
    (historical ones in a migration)."""
    permissions = {f"{app}.{codename}": pk for pk, app, codename in
                   permission_model.objects.values_list("pk", "content_type__app_label", "codename")}
    for role in ROLES:
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set([permissions[name] for name in role_permissions(role, list(permissions))])


def sync_after_migrate(sender, *, using="default", apps=None, verbosity=1, **kwargs) -> None:
    """``post_migrate``: every app's permissions exist by now (created first, whatever the app order), then the
    roles are synchronised."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission
    from django.db import connections

    tables = set(connections[using].introspection.table_names())
    if not {Group._meta.db_table, Permission._meta.db_table, "django_content_type"} <= tables:
        return  # migrated backwards past auth or contenttypes: nothing to give roles to
    for config in global_apps.get_app_configs():
        create_permissions(config, verbosity=0, using=using)
    roles_sync(Group, Permission)
