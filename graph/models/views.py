"""Read-only models over the spec's five materialized views (``managed = False``: migrations create the views).

Three views have no single-column key; Django needs a primary key, so those models declare the first column as
one. Rows are therefore only listed (the admin shows them without change links), never fetched by pk.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kgsite.fields import UTCDateTimeField


class MaterializedView(models.Model):
    class Meta:
        abstract = True
        managed = False

    def save(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} is a materialized view; it is read-only")

    def delete(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} is a materialized view; it is read-only")


class NodeConfidenceCache(MaterializedView):
    node_id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=255)
    node_type = models.CharField(max_length=50)
    confidence_score = models.DecimalField(max_digits=5, decimal_places=4, null=True)
    confidence_last_updated = models.DateTimeField(null=True)
    confidence_tier = models.TextField()

    class Meta(MaterializedView.Meta):
        db_table = "mv_node_confidence_cache"
        verbose_name = "node confidence (view)"
        verbose_name_plural = "node confidence (view)"

    def __str__(self):
        return f"{self.name} ({self.node_type})"


class RelationshipStrengthMatrix(MaterializedView):
    source_node_id = models.IntegerField(primary_key=True)  # not unique: see the module docstring
    target_node_id = models.IntegerField()
    relationship_type = models.CharField(max_length=100)
    weighted_strength = models.DecimalField(max_digits=12, decimal_places=4, null=True)  # shown rounded
    confidence_score = models.DecimalField(max_digits=5, decimal_places=4, null=True)
    strength = models.DecimalField(max_digits=5, decimal_places=4, null=True)
    source_type = models.CharField(max_length=50)
    target_type = models.CharField(max_length=50)
    bidirectional = models.BooleanField(null=True)

    class Meta(MaterializedView.Meta):
        db_table = "mv_relationship_strength_matrix"
        verbose_name = "relationship strength (view)"
        verbose_name_plural = "relationship strength matrix (view)"

    def __str__(self):
        return f"{self.source_node_id} → {self.relationship_type} → {self.target_node_id}"


class GraphConnectivityStats(MaterializedView):
    node_type = models.CharField(max_length=50, primary_key=True)
    node_count = models.BigIntegerField()
    avg_confidence = models.DecimalField(max_digits=30, decimal_places=4, null=True)  # shown rounded
    high_confidence_count = models.BigIntegerField()
    low_confidence_count = models.BigIntegerField()
    outgoing_relationships = models.BigIntegerField()
    incoming_relationships = models.BigIntegerField()

    class Meta(MaterializedView.Meta):
        db_table = "mv_graph_connectivity_stats"
        verbose_name = "graph connectivity (view)"
        verbose_name_plural = "graph connectivity statistics (view)"

    def __str__(self):
        return f"Nodes of type {self.node_type}"


class PopularEntityRanking(MaterializedView):
    node_id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=255)
    node_type = models.CharField(max_length=50)
    confidence_score = models.DecimalField(max_digits=5, decimal_places=4, null=True)
    outgoing_relationship_count = models.BigIntegerField()
    incoming_relationship_count = models.BigIntegerField()
    total_relationship_count = models.BigIntegerField()
    avg_relationship_confidence = models.DecimalField(max_digits=30, decimal_places=4, null=True)
    linked_resource_count = models.BigIntegerField()

    class Meta(MaterializedView.Meta):
        db_table = "mv_popular_entity_rankings"
        verbose_name = "popular entity (view)"
        verbose_name_plural = "popular entity rankings (view)"

    def __str__(self):
        return f"{self.name} ({self.node_type})"


class EmbeddingSimilarityCache(MaterializedView):
    source_node_id = models.IntegerField(primary_key=True)  # not unique: see the module docstring
    target_node_id = models.IntegerField()
    similarity_distance = models.FloatField()
    similarity_score = models.FloatField()
    source_type = models.CharField(max_length=50)
    target_type = models.CharField(max_length=50)

    class Meta(MaterializedView.Meta):
        db_table = "mv_embedding_similarity_cache"
        verbose_name = "embedding similarity (view)"
        verbose_name_plural = "embedding similarity cache (view)"

    def __str__(self):
        return f"{self.source_node_id} ~ {self.target_node_id}"


class MaterializedViewRefresh(models.Model):
    """When each materialized view was last refreshed, by whom, how long it took and how many rows it got (not in
    the spec: the admin and the home page say how old the figures they show are). Written by the SQL function
    ``refresh_materialized_views()`` (graph/sql/materialized_views.sql)."""

    view_name = models.CharField(max_length=63, primary_key=True)
    refreshed_at = UTCDateTimeField()
    duration_ms = models.IntegerField()
    row_count = models.BigIntegerField(null=True, blank=True)
    base_changes = models.BigIntegerField(
        null=True, blank=True,
        help_text="Rows written to the view's base tables by then (statistics): the due logic counts from it.")
    refreshed_concurrently = models.BooleanField(default=False)
    refreshed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
    )

    class Meta:
        db_table = "materialized_view_refreshes"
        verbose_name = "materialized view refresh"
        permissions = [("refresh_materialized_views", "Can refresh the materialized views")]

    def __str__(self):
        return f"{self.view_name} refreshed {self.refreshed_at:%Y-%m-%d %H:%M} UTC"
