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


class ImportStatus(models.TextChoices):
    """An uploaded import's way through the worker (docs/import-format.md, "From the admin")."""

    UPLOADED = "uploaded", "Uploaded, waiting for the check"
    CHECKING = "checking", "Being checked"
    CHECKED = "checked", "Checked, waiting for confirmation"
    INVALID = "invalid", "Refused: the file has errors"
    QUEUED = "queued", "Confirmed, waiting for a worker"
    RUNNING = "running", "Importing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ImportFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    CSV = "csv", "CSV (a ZIP of one file per kind)"


class OnConflict(models.TextChoices):
    """What an import does with a record whose node, attribute, relationship, ... is already in the database."""

    UPDATE = "update", "Update it where the file differs"
    SKIP = "skip", "Leave it as it is"
    ERROR = "error", "Refuse the whole file"


class ReviewAction(models.TextChoices):
    ACCEPT = "accept", "Accepted"
    REJECT = "reject", "Rejected"
    SKIP = "skip", "Skipped"
    WITHDRAW = "withdraw", "Rejection withdrawn"


class ReasonGone(models.TextChoices):
    CHANGED = "changed", "Changed since"
    DELETED = "deleted", "Deleted since"
