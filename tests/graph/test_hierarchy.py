"""Path and parent agree on every write path: plain SQL, the admin, a command (graph/sql/node_hierarchy.sql)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from graph.models import Node
from graph.services.hierarchy import HierarchyError, node_move, node_placement_resolve
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree():
    """computing > languages > {functional > {lisp, haskell}, procedural > c}; people (a second root)."""
    computing = NodeFactory(label="computing", name="Computing")
    languages = NodeFactory(parent=computing, label="languages", name="Languages")
    functional = NodeFactory(parent=languages, label="functional", name="Functional")
    procedural = NodeFactory(parent=languages, label="procedural", name="Procedural")
    return {
        "computing": computing, "languages": languages, "functional": functional, "procedural": procedural,
        "lisp": NodeFactory(parent=functional, label="lisp", name="Lisp"),
        "haskell": NodeFactory(parent=functional, label="haskell", name="Haskell"),
        "c": NodeFactory(parent=procedural, label="c", name="C"),
        "people": NodeFactory(label="people", name="People"),
    }


def sql(statement: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.fetchall() if cursor.description else None


def refused(statement: str, params=None) -> str:
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        sql(statement, params)
    return str(excinfo.value)


def paths() -> dict[str, tuple[str | None, int | None]]:
    return {node.name: (str(node.path) if node.path is not None else None, node.parent_node_id)
            for node in Node.objects.all()}


class TestPlainSql:
    def test_insert_with_parent_and_full_path_is_accepted(self, tree):
        sql("INSERT INTO nodes (name, node_type, path, parent_node_id) VALUES ('ML', 'language', "
            "'computing.languages.functional.ml', %s)", [tree["functional"].pk])
        assert paths()["ML"] == ("computing.languages.functional.ml", tree["functional"].pk)

    def test_insert_with_a_path_only_finds_the_parent(self, tree):
        sql("INSERT INTO nodes (name, node_type, path) VALUES ('Scheme', 'language', "
            "'computing.languages.functional.scheme')")
        assert paths()["Scheme"] == ("computing.languages.functional.scheme", tree["functional"].pk)

    def test_insert_with_a_parent_and_one_label_gets_the_full_path(self, tree):
        sql("INSERT INTO nodes (name, node_type, path, parent_node_id) VALUES ('Pascal', 'language', 'pascal', %s)",
            [tree["procedural"].pk])
        assert paths()["Pascal"][0] == "computing.languages.procedural.pascal"

    def test_insert_with_a_parent_and_no_path_gets_a_label_from_its_name(self, tree):
        sql("INSERT INTO nodes (name, node_type, parent_node_id) VALUES ('Standard ML (SML)', 'language', %s)",
            [tree["functional"].pk])
        assert paths()["Standard ML (SML)"][0] == "computing.languages.functional.standard_ml_sml"

    def test_a_path_that_disagrees_with_the_parent_is_refused(self, tree):
        message = refused("INSERT INTO nodes (name, node_type, path, parent_node_id) VALUES ('Elixir', 'language', "
                          "'computing.languages.functional.elixir', %s)", [tree["procedural"].pk])
        assert "RG-NODE-001" in message
        assert not Node.objects.filter(name="Elixir").exists()

    def test_a_deep_path_without_a_node_at_its_prefix_is_refused(self, tree):
        message = refused("INSERT INTO nodes (name, node_type, path) VALUES ('Go', 'language', "
                          "'computing.languages.concurrent.go')")
        assert "RG-NODE-005" in message and "computing.languages.concurrent" in message

    def test_a_multi_row_insert_is_checked_as_a_set(self, tree):
        # Bulk paths (COPY, multi-row INSERT) skip the row trigger and are checked once per statement.
        message = refused(
            "INSERT INTO nodes (name, node_type, path, parent_node_id) VALUES "
            "('Ok', 'x', 'people.ok', %s), ('Wrong', 'x', 'computing.wrong', %s)",
            [tree["people"].pk, tree["people"].pk])
        assert "RG-NODE-001" in message
        assert not Node.objects.filter(name__in=["Ok", "Wrong"]).exists()

    def test_paths_are_unique(self, tree):
        message = refused("INSERT INTO nodes (name, node_type, path) VALUES ('Lisp again', 'language', "
                          "'computing.languages.functional.lisp')")
        assert "unique_node_path" in message

    def test_moving_by_parent_moves_the_subtree(self, tree):
        sql("UPDATE nodes SET parent_node_id = %s WHERE node_id = %s", [tree["people"].pk, tree["functional"].pk])
        now = paths()
        assert now["Functional"] == ("people.functional", tree["people"].pk)
        assert now["Lisp"] == ("people.functional.lisp", tree["functional"].pk)
        assert now["Haskell"][0] == "people.functional.haskell"
        assert now["C"][0] == "computing.languages.procedural.c"  # a sibling subtree stays

    def test_moving_by_path_moves_the_parent_and_the_subtree(self, tree):
        sql("UPDATE nodes SET path = 'computing.functional' WHERE node_id = %s", [tree["functional"].pk])
        now = paths()
        assert now["Functional"] == ("computing.functional", tree["computing"].pk)
        assert now["Lisp"] == ("computing.functional.lisp", tree["functional"].pk)

    def test_renaming_a_label_renames_the_subtree(self, tree):
        sql("UPDATE nodes SET path = 'computing.languages.fp' WHERE node_id = %s", [tree["functional"].pk])
        assert paths()["Haskell"][0] == "computing.languages.fp.haskell"

    def test_clearing_the_parent_makes_a_root_with_its_label(self, tree):
        sql("UPDATE nodes SET parent_node_id = NULL WHERE node_id = %s", [tree["procedural"].pk])
        assert paths()["Procedural"] == ("procedural", None)
        assert paths()["C"][0] == "procedural.c"

    @pytest.mark.parametrize("target", ["functional", "lisp"])
    def test_a_node_cannot_move_under_itself_or_its_descendants(self, tree, target):
        message = refused("UPDATE nodes SET parent_node_id = %s WHERE node_id = %s",
                          [tree[target].pk, tree["functional"].pk])
        assert "RG-NODE-004" in message
        assert paths()["Lisp"][0] == "computing.languages.functional.lisp"

    def test_a_node_with_children_keeps_its_path(self, tree):
        message = refused("UPDATE nodes SET path = NULL WHERE node_id = %s", [tree["functional"].pk])
        assert "RG-NODE-003" in message

    def test_a_child_of_a_node_without_path_is_refused(self, tree):
        pathless = Node.objects.create(name="Loose", node_type="x")
        message = refused("INSERT INTO nodes (name, node_type, parent_node_id) VALUES ('Child', 'x', %s)",
                          [pathless.pk])
        assert "RG-NODE-003" in message


class TestService:
    def test_resolve_mirrors_the_trigger(self, tree):
        path, parent = node_placement_resolve(node=None, name="Lua", path="lua", parent=tree["procedural"])
        assert (path, parent) == ("computing.languages.procedural.lua", tree["procedural"])
        path, parent = node_placement_resolve(node=None, name="Ada", path="computing.languages.ada", parent=None)
        assert parent == tree["languages"]
        with pytest.raises(HierarchyError, match="RG-NODE-004") as excinfo:
            node_placement_resolve(node=tree["languages"], name="Languages", path=tree["languages"].path,
                                   parent=tree["lisp"], path_changed=False, parent_changed=True)
        assert excinfo.value.field == "parent_node"

    def test_node_move_reports_the_subtree(self, tree):
        report = node_move(node_id=tree["functional"].pk, parent_id=tree["people"].pk)
        assert (report.old_path, report.new_path, report.descendants) == (
            "computing.languages.functional", "people.functional", 2)


class TestCommand:
    def test_move_node_moves_a_subtree(self, tree):
        out = StringIO()
        call_command("move_node", str(tree["functional"].pk), "--parent", str(tree["people"].pk), stdout=out)
        assert "computing.languages.functional -> people.functional" in out.getvalue()
        assert "2 descendants" in out.getvalue()
        assert paths()["Lisp"][0] == "people.functional.lisp"

    def test_move_node_to_the_root(self, tree):
        call_command("move_node", str(tree["c"].pk), "--root", stdout=StringIO())
        assert paths()["C"] == ("c", None)

    @pytest.mark.parametrize(("args", "code"), [
        (["{functional}", "--parent", "{lisp}"], "RG-NODE-004"),
        (["{functional}", "--parent", "{functional}"], "RG-NODE-004"),
        (["999999", "--root"], "RG-NODE-008"),
        (["{lisp}", "--parent", "999999"], "RG-NODE-006"),
        (["abc", "--root"], "RG-CMD-002"),
        (["{lisp}"], "RG-CMD-001"),
    ])
    def test_move_node_refusals_change_nothing(self, tree, args, code):
        before = paths()
        args = [arg.format(**{name: node.pk for name, node in tree.items()}) for arg in args]
        with pytest.raises(CommandError, match=code):
            call_command("move_node", *args, stdout=StringIO())
        assert paths() == before


def _errors(response) -> str:
    context = response.context
    return f"{context['adminform'].form.errors} {[f.formset.errors for f in context['inline_admin_formsets']]}"


class TestAdmin:
    def _change(self, client, node, **changes):
        url = reverse("admin:graph_node_change", args=[node.pk])
        data = {"name": node.name, "node_type": node.node_type, "path": str(node.path or ""),
                "parent_node": node.parent_node_id or "", "source": node.source or "",
                "confidence_score": "0.5", "metadata": "{}", "embedding": "",
                **{f"{prefix}-{key}": value for prefix in ("attributes", "resource_links", "references_made")
                   for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))}}
        data.update(changes)
        return client.post(url, data)

    def test_changing_the_parent_moves_the_subtree(self, admin_client_for, tree):
        response = self._change(admin_client_for, tree["functional"], parent_node=tree["people"].pk)
        assert response.status_code == 302, _errors(response)
        assert paths()["Lisp"][0] == "people.functional.lisp"

    def test_changing_the_path_moves_the_parent(self, admin_client_for, tree):
        response = self._change(admin_client_for, tree["c"], path="computing.languages.functional.c")
        assert response.status_code == 302
        assert paths()["C"] == ("computing.languages.functional.c", tree["functional"].pk)

    def test_a_disagreeing_path_is_an_error_beside_the_path(self, admin_client_for, tree):
        response = self._change(admin_client_for, tree["c"], path="people.c", parent_node=tree["functional"].pk)
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert "RG-NODE-001" in errors["path"][0]
        assert paths()["C"][0] == "computing.languages.procedural.c"

    def test_a_cycle_is_an_error_beside_the_parent(self, admin_client_for, tree):
        response = self._change(admin_client_for, tree["languages"], parent_node=tree["lisp"].pk)
        assert response.status_code == 200
        assert "RG-NODE-004" in response.context["adminform"].form.errors["parent_node"][0]

    def test_a_new_child_needs_only_its_label(self, admin_client_for, tree):
        url = reverse("admin:graph_node_add")
        data = {"name": "Prolog", "node_type": "language", "path": "prolog", "parent_node": tree["languages"].pk,
                "source": "manual", "confidence_score": "0.5", "metadata": "{}", "embedding": "",
                **{f"{prefix}-{key}": value for prefix in ("attributes", "resource_links", "references_made")
                   for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))}}
        response = admin_client_for.post(url, data)
        assert response.status_code == 302, _errors(response)
        assert paths()["Prolog"] == ("computing.languages.prolog", tree["languages"].pk)

    def test_a_taken_path_is_an_error(self, admin_client_for, tree):
        response = self._change(admin_client_for, tree["c"], path="computing.languages.functional.lisp")
        assert response.status_code == 200
        assert "Another node already has this path." in str(response.context["adminform"].form.errors)


def test_a_move_onto_a_taken_path_is_refused_with_its_code_and_moves_nothing():
    from graph.errors import PATH_TAKEN, GraphError
    from tests.factories import NodeFactory

    science = NodeFactory(label="sci_taken", name="Science")
    optics = NodeFactory(parent=science, label="optics", name="Optics")
    arts = NodeFactory(label="arts_taken", name="Arts")
    NodeFactory(parent=arts, label="optics", name="Art optics")
    with pytest.raises(GraphError) as refused:
        node_move(node_id=optics.pk, parent_id=arts.pk)
    assert refused.value.code == PATH_TAKEN
    optics.refresh_from_db()
    assert str(optics.path) == "sci_taken.optics" and optics.parent_node_id == science.pk
