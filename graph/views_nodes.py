"""Placeholder: the node and neighbourhood pages (issue 12), being written."""
from django.views import View


class NodeDetailView(View):
    pass


class NeighbourhoodView(View):
    pass
