from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ObjectDoesNotExist
from django.core.validators import MaxLengthValidator, URLValidator
from django.db import models
from django.db.models.functions import Left, Lower
from pgvector.django import IvfflatIndex

from graph.choices import CrawlStatus
from graph.models.common import (
    created_at_field,
    created_by_field,
    metadata_field,
    node_fk,
    node_label,
    unit_decimal,
    unit_interval_check,
    updated_at_field,
)
from kgsite.constraints import choices_check
from kgsite.fields import SerialField, UTCDateTimeField, Vector768Field

# external_resources.url is UNIQUE TEXT: its btree index refuses keys longer than about 2.7 KB, so the forms cap
# a URL well below that (browsers and servers commonly stop at 2 KB anyway).
MAX_URL_LENGTH = 2048


class ExternalResource(models.Model):
    """A document, page or dataset outside the graph that nodes link to and references cite."""

    resource_id = SerialField(primary_key=True)
    url = models.TextField(validators=[URLValidator(), MaxLengthValidator(MAX_URL_LENGTH)])
    title = models.TextField(null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    resource_type = models.CharField(max_length=50, null=True, blank=True)
    embedding = Vector768Field(null=True, blank=True)
    # Not in the spec: who made ``embedding`` (see Node.embedding_model).
    embedding_model = models.CharField(max_length=100, null=True, blank=True, editable=False)
    content_hash = models.CharField(max_length=64, null=True, blank=True)
    last_crawled = UTCDateTimeField(null=True, blank=True)
    crawl_status = models.CharField(
        max_length=20, choices=CrawlStatus.choices, default=CrawlStatus.PENDING, db_default=CrawlStatus.PENDING,
        null=True, blank=True,
    )
    # Not in the spec (docs/schema.md, "Crawling"): why the last crawl failed, how many failed in a row, and when
    # the crawler may try again (exponential back-off).
    crawl_error = models.TextField(null=True, blank=True, editable=False)
    crawl_failures = models.IntegerField(default=0, db_default=0, editable=False)
    next_crawl_at = UTCDateTimeField(null=True, blank=True, editable=False)
    metadata = metadata_field()
    created_at = created_at_field()
    updated_at = updated_at_field()
    created_by = created_by_field()

    class Meta:
        db_table = "external_resources"
        ordering = ["-resource_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["url"], name="external_resources_url_key",
                violation_error_message="An external resource with this URL already exists.",
            ),
            choices_check("crawl_status", CrawlStatus, "valid_crawl_status"),
        ]
        indexes = [
            models.Index(fields=["url"], name="idx_external_resources_url"),
            models.Index(fields=["resource_type"], name="idx_external_resources_type"),
            models.Index(fields=["crawl_status"], name="idx_external_resources_status"),
            models.Index(fields=["-last_crawled"], name="idx_external_resources_crawled"),
            models.Index(fields=["content_hash"], name="idx_external_resources_hash"),
            IvfflatIndex(
                fields=["embedding"], name="idx_external_resources_embedding", lists=50,
                opclasses=["vector_cosine_ops"],
            ),
            # Not in the spec: the admin's searches (graph.0007, docs/schema.md "Search indexes"). Titles are
            # unbounded TEXT, so their prefix index holds the first 100 characters only (a btree key must stay
            # under ~2.7 KB).
            GinIndex(fields=["title"], opclasses=["gin_trgm_ops"], name="idx_external_resources_title_trgm"),
            GinIndex(fields=["url"], opclasses=["gin_trgm_ops"], name="idx_external_resources_url_trgm"),
            models.Index(
                OpClass(Left(Lower("title"), 100), name="text_pattern_ops"), name="idx_external_resources_title_lower"
            ),
        ]

    def __str__(self):
        return self.title or self.url


class NodeResourceLink(models.Model):
    link_id = SerialField(primary_key=True)
    node = node_fk(related_name="resource_links")
    resource = models.ForeignKey(
        # DO_NOTHING: the database cascades (graph.0002); kgsite.deletion counts what it will remove.
        ExternalResource, on_delete=models.DO_NOTHING, db_column="resource_id", db_constraint=False, db_index=False,
        related_name="node_links",
    )
    link_type = models.CharField(max_length=50, default="reference", db_default="reference", null=True, blank=True)
    confidence = unit_decimal("0.5")
    context = models.TextField(null=True, blank=True)
    created_at = created_at_field()
    created_by = created_by_field()

    class Meta:
        db_table = "node_resource_links"
        verbose_name = "node–resource link"
        ordering = ["-link_id"]
        constraints = [
            unit_interval_check("confidence", "valid_confidence"),
            models.UniqueConstraint(
                fields=["node", "resource", "link_type"], name="unique_node_resource_link",
                violation_error_message="This node is already linked to this resource with this link type.",
            ),
        ]
        indexes = [
            models.Index(fields=["node"], name="idx_node_resource_links_node"),
            models.Index(fields=["resource"], name="idx_node_resource_links_resource"),
            models.Index(fields=["link_type"], name="idx_node_resource_links_type"),
            models.Index(fields=["-confidence"], name="idx_node_resource_links_confidence"),
        ]

    def __str__(self):
        try:
            resource = f"“{self.resource}”"
        except ObjectDoesNotExist:
            resource = f"resource {self.resource_id}"
        return f"{node_label(self, 'node')} → {resource} ({self.link_type})"
