from __future__ import annotations

import django_ltree.lookups  # noqa: F401  (registers path__descendants, __ancestors, __match, ...)
from django.contrib.postgres.indexes import GinIndex, GistIndex, OpClass
from django.db import models
from django.db.models.functions import Length, Lower
from django.urls import reverse
from django_ltree.fields import PathField
from pgvector.django import IvfflatIndex

from graph.models.common import (
    created_at_field,
    created_by_field,
    metadata_field,
    timestamp_now_field,
    unit_decimal,
    unit_interval_check,
    updated_at_field,
)
from kgsite.fields import SerialField, Vector768Field


class Node(models.Model):
    """An entity of the graph, placed in the ltree hierarchy by ``path`` and in embedding space by ``embedding``."""

    node_id = SerialField(primary_key=True)
    name = models.CharField(max_length=255)
    node_type = models.CharField(max_length=50)
    path = PathField(null=True, blank=True, help_text="ltree path, labels separated by dots: science.physics.optics")
    parent_node = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, db_column="parent_node_id",
        db_constraint=False, db_index=False, related_name="children",
    )
    embedding = Vector768Field(null=True, blank=True)
    # Not in the spec (docs/schema.md, "Embeddings"): the provider that made ``embedding`` ("hashing-v1"); empty
    # when the vector was supplied by a user (admin, import, SQL), which the embedder then never overwrites.
    embedding_model = models.CharField(max_length=100, null=True, blank=True, editable=False)
    # Not in the spec (docs/schema.md, "External keys"): the stable identifier that import files use for the node
    # (docs/import-format.md). Unique when set; nodes made in the admin have none until an import names them.
    external_key = models.CharField(max_length=255, null=True, blank=True,
                                    help_text="The node's key in import and export files (docs/import-format.md).")
    metadata = metadata_field()
    confidence_score = unit_decimal(
        "0.5", help_text="Worked out by the database from the node's attributes (weight, confidence, source "
                         "reliability, age of verification): see docs/confidence.md.")
    confidence_last_updated = timestamp_now_field()
    created_at = created_at_field()
    updated_at = updated_at_field()
    created_by = created_by_field()
    source = models.CharField(max_length=50, default="manual", db_default="manual", null=True, blank=True)

    class Meta:
        db_table = "nodes"
        ordering = ["-node_id"]
        permissions = [
            ("merge_node", "Can merge nodes, undo merges, mark pairs distinct"),
            ("revert_history", "Can revert changes and restore deleted nodes"),
        ]
        constraints = [
            unit_interval_check("confidence_score", "valid_confidence_score"),
            # Not in the spec: a path is a node's address in the hierarchy (docs/schema.md, "Path and parent agree").
            models.UniqueConstraint(
                fields=["path"], name="unique_node_path",
                violation_error_message="Another node already has this path.",
            ),
            # Not in the spec (docs/schema.md, "Imports"): imports find nodes by it.
            models.UniqueConstraint(
                fields=["external_key"], name="unique_node_external_key",
                violation_error_message="Another node already has this external key.",
            ),
        ]
        indexes = [
            models.Index(fields=["node_type"], name="idx_nodes_type"),
            GistIndex(fields=["path"], name="idx_nodes_path"),
            models.Index(fields=["parent_node"], name="idx_nodes_parent"),
            # Not the spec's idx_nodes_confidence and idx_nodes_confidence_updated (graph.0010, docs/schema.md):
            # the database rewrites confidence_score on every attribute change, and an index on it makes each
            # rewrite a non-HOT update that copies the 768-d vector into the IVFFlat index again.
            models.Index(fields=["-created_at"], name="idx_nodes_created"),
            models.Index(fields=["source"], name="idx_nodes_source"),
            # lists = 100 as in the spec; vector-index optimisation rebuilds it with lists from the row count.
            IvfflatIndex(fields=["embedding"], name="idx_nodes_embedding", lists=100, opclasses=["vector_cosine_ops"]),
            # Not in the spec: the admin's searches (graph.0007, docs/schema.md "Search indexes"). Substrings of
            # 3+ characters through trigrams; exact and prefix matches (any length) through lower(name); the
            # autocomplete's "shortest names first" order within a prefix through (length, lower(name)).
            GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="idx_nodes_name_trgm"),
            models.Index(OpClass(Lower("name"), name="text_pattern_ops"), name="idx_nodes_name_lower"),
            models.Index(Length("name"), OpClass(Lower("name"), name="text_pattern_ops"), name="idx_nodes_name_length"),
        ]

    def __str__(self):
        return f"{self.name} ({self.node_type})"

    def get_absolute_url(self):
        """The node's page on the site: the admin's "View on site" link on a node leads there."""
        return reverse("node_detail", args=[self.pk])
