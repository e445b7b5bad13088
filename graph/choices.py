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
