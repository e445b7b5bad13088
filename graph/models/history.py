"""The history of every graph edit (docs/history.md), recorded by django-pghistory's database triggers.

One event table per tracked table. Statement-level ``AFTER`` triggers copy the rows a statement wrote, through its
transition tables, so that a COPY or a set-based ``UPDATE`` of 100,000 rows costs one extra ``INSERT ... SELECT``,
not 100,000 trigger calls. Every write path is covered, plain SQL included: the triggers live in the database.

What an event holds (``pgh_label``):

* ``insert``: the new row;
* ``update``: the row **before** the change (the values a revert puts back). The values after it are the next
  event's row for the same object, or the live row when there is no later event (``graph.selectors.history``);
* ``delete``: the row as it was.

Besides pghistory's own columns (``pgh_created_at``, ``pgh_label``, ``pgh_obj_id``, ``pgh_context_id``: the
request, command, import, merge or bulk review that did it, with who in its metadata), each event records the
database role (``pgh_db_role``, ``CURRENT_USER``: who did a plain-SQL edit) and the transaction
(``pgh_xact``): the rows one statement or one transaction changed together, such as a node and the attributes and
edges its deletion cascaded to, are found again by it.

Columns the database or the machinery derives are not tracked, so that recomputing them writes no history:
confidence scores and their timestamps, ``updated_at``, embeddings, the review queue's bookkeeping and the
crawler's state (docs/history.md, "What is tracked").
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.db import models

from graph.models.attributes import NodeAttribute
from graph.models.nodes import Node
from graph.models.references import Reference
from graph.models.relationships import Relationship
from graph.models.resources import ExternalResource, NodeResourceLink

CURRENT_ROLE = models.Func(template="CURRENT_USER", output_field=models.TextField())
CURRENT_XACT = models.Func(function="txid_current", output_field=models.BigIntegerField())


class GraphEvent(pghistory.models.Event):
    """The base of the event tables: pghistory's columns, the database role and the transaction."""

    pgh_db_role = models.TextField(db_default=CURRENT_ROLE, editable=False)
    pgh_xact = models.BigIntegerField(db_default=CURRENT_XACT, editable=False)

    class Meta:
        abstract = True


class _FreshPlanTrigger(pghistory.trigger.Event):
    """pghistory's statement-level trigger, its ``INSERT ... SELECT`` run with ``EXECUTE``: planned afresh with
    the transition tables' real sizes on every statement.

    PL/pgSQL caches the plan of a statement without parameters for the whole session, and a transition table's
    size is only known when it is planned. A connection whose first update of a table changed one row kept a
    nested loop over ``old_values × new_values`` and then spent 20 s joining the 4,861 rows a merge re-pointed,
    where a fresh plan hashes them in milliseconds (docs/history.md, "Cost").
    """

    def get_func(self, model):
        sql = super().get_func(model).func
        body, returns, rest = sql.rpartition("RETURN NULL;")
        if not returns or rest.strip() or "$kgsite_plan$" in body:  # pragma: no cover - a pghistory change
            raise RuntimeError("pghistory's trigger body is not the INSERT ... ; RETURN NULL; this module wraps")
        return pgtrigger.Func(f"EXECUTE $kgsite_plan$ {body.strip().rstrip(';')} $kgsite_plan$; RETURN NULL;")


class _FreshPlan:
    """A pghistory tracker whose trigger is a ``_FreshPlanTrigger``."""

    def add_event_trigger(self, event_model):
        pgtrigger.register(_FreshPlanTrigger(
            event_model=event_model, label=self.label, name=self.trigger_name, row=self.row,
            operation=self.operation, condition=self.condition, level=self.level,
        ))(event_model.pgh_tracked_model)


class InsertEvent(_FreshPlan, pghistory.InsertEvent):
    pass


class UpdateEvent(_FreshPlan, pghistory.UpdateEvent):
    pass


class DeleteEvent(_FreshPlan, pghistory.DeleteEvent):
    pass


def _trackers() -> tuple:
    return (InsertEvent(), UpdateEvent(row=pghistory.Old), DeleteEvent())


def _event_model(tracked, name: str, table: str, *, exclude: list[str]):
    return pghistory.create_event_model(
        tracked, *_trackers(), exclude=exclude, model_name=name, base_model=GraphEvent,
        level=pgtrigger.Statement, abstract=False,
        meta={"db_table": table, "indexes": [
            models.Index(fields=["pgh_created_at"], name=f"{table}_at"),
            models.Index(fields=["pgh_xact"], name=f"{table}_xact"),
            # the copied foreign keys (pgh_obj, node, source_node, ...) are indexed by pghistory
        ]},
    )


# Derived columns (see the module docstring): recomputing them must not write history.
NODE_UNTRACKED = ["embedding", "embedding_model", "confidence_score", "confidence_last_updated", "updated_at"]
RELATIONSHIP_UNTRACKED = [
    "confidence_score", "confidence_last_updated", "updated_at", "last_inference_update",
    "stale_since", "review_impact", "review_skipped_at",
]
RESOURCE_UNTRACKED = [
    "embedding", "embedding_model", "content_hash", "last_crawled", "crawl_status", "crawl_error",
    "crawl_failures", "next_crawl_at", "updated_at",
]

NodeEvent = _event_model(Node, "NodeEvent", "history_nodes", exclude=NODE_UNTRACKED)
NodeAttributeEvent = _event_model(NodeAttribute, "NodeAttributeEvent", "history_node_attributes", exclude=[])
RelationshipEvent = _event_model(
    Relationship, "RelationshipEvent", "history_relationships", exclude=RELATIONSHIP_UNTRACKED)
ExternalResourceEvent = _event_model(
    ExternalResource, "ExternalResourceEvent", "history_external_resources", exclude=RESOURCE_UNTRACKED)
NodeResourceLinkEvent = _event_model(
    NodeResourceLink, "NodeResourceLinkEvent", "history_node_resource_links", exclude=[])
ReferenceEvent = _event_model(Reference, "ReferenceEvent", "history_reference_tracking", exclude=[])

EVENT_MODELS = (NodeEvent, NodeAttributeEvent, RelationshipEvent, ExternalResourceEvent, NodeResourceLinkEvent,
                ReferenceEvent)
