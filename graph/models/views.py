"""Read-only models over the spec's five materialized views (``managed = False``: migrations create the views).

Three views have no single-column key; Django needs a primary key, so those models declare the first column as
one. Rows are therefore only listed (the admin shows them without change links), never fetched by pk.
"""

from __future__ import annotations

from django.db import models


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


class RelationshipStrengthMatrix(MaterializedView):
    source_node_id = models.IntegerField(primary_key=True)  # not unique: see the module docstring
    target_node_id = models.IntegerField()
    relationship_type = models.CharField(max_length=100)
    weighted_strength = models.DecimalField(max_digits=12, decimal_places=8, null=True)
    confidence_score = models.DecimalField(max_digits=5, decimal_places=4, null=True)
    strength = models.DecimalField(max_digits=5, decimal_places=4, null=True)
    source_type = models.CharField(max_length=50)
    target_type = models.CharField(max_length=50)
    bidirectional = models.BooleanField(null=True)

    class Meta(MaterializedView.Meta):
        db_table = "mv_relationship_strength_matrix"
        verbose_name = "relationship strength (view)"
        verbose_name_plural = "relationship strength matrix (view)"


class GraphConnectivityStats(MaterializedView):
    node_type = models.CharField(max_length=50, primary_key=True)
    node_count = models.BigIntegerField()
    avg_confidence = models.DecimalField(max_digits=30, decimal_places=20, null=True)
    high_confidence_count = models.BigIntegerField()
    low_confidence_count = models.BigIntegerField()
    outgoing_relationships = models.BigIntegerField()
    incoming_relationships = models.BigIntegerField()

    class Meta(MaterializedView.Meta):
        db_table = "mv_graph_connectivity_stats"
        verbose_name = "graph connectivity (view)"
        verbose_name_plural = "graph connectivity statistics (view)"


class PopularEntityRanking(MaterializedView):
    node_id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=255)
    node_type = models.CharField(max_length=50)
    confidence_score = models.DecimalField(max_digits=5, decimal_places=4, null=True)
    outgoing_relationship_count = models.BigIntegerField()
    incoming_relationship_count = models.BigIntegerField()
    total_relationship_count = models.BigIntegerField()
    avg_relationship_confidence = models.DecimalField(max_digits=30, decimal_places=20, null=True)
    linked_resource_count = models.BigIntegerField()

    class Meta(MaterializedView.Meta):
        db_table = "mv_popular_entity_rankings"
        verbose_name = "popular entity (view)"
        verbose_name_plural = "popular entity rankings (view)"


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
