"""Placeholder: the hierarchy pages (issue 12), being written."""
from django.views import View


class HierarchyView(View):
    pass


class HierarchyMoveView(View):
    pass
