"""Searches of the graph admin: what a curator types finds what they mean, through indexes.

Each mixin holds everything about one model admin's search (``search_fields``, ``search_help_text``,
``get_search_results`` and, for nodes, the autocomplete order). ``graph/admin.py`` puts the mixin first in the
class bases. The index side is migration ``graph.0007_search_indexes`` (docs/schema.md).
"""

from __future__ import annotations


class NodeSearchMixin:
    search_fields = ("name",)
    id_search_fields = ("node_id",)


class NodeAttributeSearchMixin:
    search_help_text = "Exact attribute value or key (indexed lookups), or a node id."
    exact_search_fields = ("attribute_value", "attribute_key")
    id_search_fields = ("node_id",)


class RelationshipSearchMixin:
    search_help_text = "A node id (relationships from or to it) or a relationship type."
    exact_search_fields = ("relationship_type",)
    id_search_fields = ("source_node_id", "target_node_id")


class InferenceQueueItemSearchMixin:
    search_help_text = "A node id or a batch id."
    exact_search_fields = ("batch_id",)
    id_search_fields = ("node_id",)


class ExternalResourceSearchMixin:
    search_fields = ("title", "^url")
    id_search_fields = ("resource_id",)


class NodeResourceLinkSearchMixin:
    pass


class ReferenceSearchMixin:
    pass
