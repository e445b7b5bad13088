"""The hierarchy pages: the ltree tree level by level (``/hierarchy/?path=``) and moving a subtree (POST
``/hierarchy/move/``).

Thin: ``HierarchyForm`` checks the path and page, ``hierarchy_level`` reads the level, the template shows it; a
malformed path or page is a 400 beside the path field, a path no node has a 404. The move form (shown to users
with ``graph.change_node``) posts to ``HierarchyMoveView``, which calls ``node_move`` (one transaction; it refuses
a move under the node's own subtree) and redirects to the node's new place, or shows the refusal on the same
level with status 400. A user without the permission gets the 403 page (``PermissionRefused``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from graph.errors import (
    HIERARCHY_CYCLE,
    NODE_MISSING,
    PARENT_MISSING,
    PARENT_WITHOUT_PATH,
    PATH_TAKEN,
    GraphError,
    GraphNotFound,
)
from graph.forms_hierarchy import HierarchyForm, MoveForm
from graph.forms_paths import refusal_status, refuse
from graph.selectors.hierarchy import HierarchyLevel, TreeChild, TreeNode, hierarchy_level
from graph.services.hierarchy import HierarchyError, node_move
from graph.views_search import breakable_path
from kgsite.errors import require_permission

MOVE_PERMISSION = "graph.change_node"
# Which move field a refusal belongs beside: HierarchyError.field, or the code of a GraphError.
MOVE_FIELDS = {"parent_node": "parent", "path": None}
MOVE_CODE_FIELDS = {NODE_MISSING: "node", PARENT_MISSING: "parent", HIERARCHY_CYCLE: "parent",
                    PARENT_WITHOUT_PATH: "parent", PATH_TAKEN: "parent"}


def hierarchy_url(path: str | None = None, page: int = 1) -> str:
    params = {key: value for key, value in (("path", path), ("page", page if page > 1 else None)) if value}
    return f"{reverse('hierarchy')}?{urlencode(params)}" if params else reverse("hierarchy")


@dataclass(frozen=True)
class ChildRow:
    child: TreeChild
    url: str  # its level in the hierarchy
    node_url: str

    @property
    def path_html(self):
        return breakable_path(self.child.node.path)


def _node_url(node: TreeNode) -> str:
    return reverse("node_detail", kwargs={"node_id": node.node_id})


def _move_choices(level: HierarchyLevel) -> list[tuple[int, str]]:
    choices = []
    if level.node is not None:
        choices.append((level.node.node_id, f"{level.node.name} (this node, {level.node.path})"))
    choices.extend((child.node.node_id, f"{child.node.name} ({child.node.path})") for child in level.children)
    return choices


def hierarchy_context(request, form: HierarchyForm, level: HierarchyLevel | None,
                      move_form: MoveForm | None = None) -> dict:
    crumbs = [("Dashboard", reverse("home")), ("Hierarchy", reverse("hierarchy") if level and level.node else None)]
    context = {"form": form, "level": level, "breadcrumbs": crumbs,
               "can_move": request.user.has_perm(MOVE_PERMISSION)}
    if level is None:
        return context
    path = level.node.path if level.node else None
    for ancestor in level.ancestors:
        crumbs.append((ancestor.name, hierarchy_url(ancestor.path)))
    if level.node:
        crumbs.append((level.node.name, None))
    context.update(
        rows=[ChildRow(child, hierarchy_url(child.node.path), _node_url(child.node)) for child in level.children],
        node_url=_node_url(level.node) if level.node else None,
        node_path_html=breakable_path(path),
        parent_url=hierarchy_url(level.ancestors[-1].path) if level.ancestors else reverse("hierarchy"),
        previous_url=hierarchy_url(path, level.page - 1) if level.has_previous else None,
        next_url=hierarchy_url(path, level.page + 1) if level.has_next else None,
    )
    if context["can_move"] and (level.node or level.children):
        if move_form is None:
            selected = level.node.node_id if level.node else level.children[0].node.node_id
            move_form = MoveForm(initial={"node": selected, "back": path or "", "back_page": level.page},
                                 choices=_move_choices(level))
        context["move_form"] = move_form
    return context


class HierarchyView(View):
    template_name = "graph/hierarchy.html"
    http_method_names = ["get", "head", "options"]

    def get(self, request):
        form = HierarchyForm(request.GET or None)
        level = None
        if not form.is_bound:
            level = hierarchy_level()
        elif form.is_valid():
            try:
                level = hierarchy_level(path=form.cleaned_data["path"] or None, page=form.cleaned_data["page"])
            except GraphNotFound as error:
                form.add_error("path", refuse(error.message, error.code))
            except GraphError as error:  # a page past the last one
                form.add_error("page", refuse(error.message, error.code))
        context = hierarchy_context(request, form, level)
        return render(request, self.template_name, context, status=refusal_status(form))


class HierarchyMoveView(View):
    template_name = "graph/hierarchy.html"
    http_method_names = ["post", "options"]

    def post(self, request):
        require_permission(request.user, MOVE_PERMISSION, "move nodes")  # a 403 page before anything else
        move_form = MoveForm(request.POST)
        if move_form.is_valid():
            data = move_form.cleaned_data
            try:
                report = node_move(node_id=data["node"], parent_id=data["parent"], user=request.user)
            except GraphError as error:
                if isinstance(error, HierarchyError):
                    field = MOVE_FIELDS.get(error.field, None)
                else:
                    field = MOVE_CODE_FIELDS.get(error.code)
                move_form.add_error(field, refuse(error.message, error.code))
            else:
                name, moved = report.node.name, report.descendants
                also = f" and its {moved:,} descendant{'s' if moved != 1 else ''}" if moved else ""
                messages.success(request, f"Moved {name}{also}: {report.old_path or 'no path'} → "
                                          f"{report.new_path or 'no path'}.")
                return redirect(hierarchy_url(report.new_path))
        return self.refused(request, move_form)

    def refused(self, request, move_form: MoveForm):
        """The level the form was posted from, with the move form and its refusal (status 400)."""
        back, page = move_form.cleaned_data.get("back", ""), move_form.cleaned_data.get("back_page", 1)
        try:
            level = hierarchy_level(path=back or None, page=page)
        except GraphError:  # that level is gone (moved meanwhile): the roots
            back, level = "", hierarchy_level()
        move_form.set_choices(_move_choices(level))
        form = HierarchyForm(initial={"path": back})
        context = hierarchy_context(request, form, level, move_form)
        return render(request, self.template_name, context, status=400)
