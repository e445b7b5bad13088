"""Placeholder: the paths page (issue 12), being written."""
from django.views import View


class PathsView(View):
    pass
