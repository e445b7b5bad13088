"""Closed vocabularies of the graph app (the values the spec's CHECK constraints allow)."""

from django.db import models


class QueueStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class CrawlStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CRAWLING = "crawling", "Crawling"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    STALE = "stale", "Stale"


class VectorTable(models.TextChoices):
    NODES = "nodes", "Nodes"
    EXTERNAL_RESOURCES = "external_resources", "External resources"


class VectorIndexType(models.TextChoices):
    IVFFLAT = "ivfflat", "IVFFlat"
    HNSW = "hnsw", "HNSW"


class VectorIndexOutcome(models.TextChoices):
    REBUILT = "rebuilt", "Rebuilt"
    UNCHANGED = "unchanged", "No rebuild needed"
    DRY_RUN = "dry_run", "Dry run (nothing changed)"
    FAILED = "failed", "Failed"


class SearchMode(models.TextChoices):
    APPROXIMATE = "approximate", "Approximate (vector index)"
    EXACT = "exact", "Exact"
    HYBRID = "hybrid", "Hybrid (full text + vector)"
