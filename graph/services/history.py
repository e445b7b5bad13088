"""Reverting recorded changes, restoring deleted nodes and pruning old history (docs/history.md).

The events are written by the triggers of ``graph.models.history``; this module reads them back. One rule serves
every revert: **each object the reverted events touched goes back to its state before the first of them**, field
by field:

* an object the events **inserted** is deleted (if it still exists);
* an object they **updated** gets back, for each field they changed, the value before the first of them. The
  fields they did not change keep their current values, so later edits of other fields survive;
* an object they **deleted** is inserted again as it was, its tracked columns from the event (the derived ones,
  such as confidence scores and embeddings, are worked out again by the database and the worker).

A revert is one transaction and, being a write, is recorded in the history as an entry of its own (which can be
reverted in turn). Inserts run parents first (nodes by depth, then resources, then the rows that name them);
deletes run the other way. A row that cannot go back (its node or resource is gone, its path or key is taken)
is left out and counted; if the database still refuses, nothing is written (``RG-HIST-002``).

**Entries**: the events of one history context (a request, a command, an import, a merge, a bulk review) or,
without a context (plain SQL), of one transaction. ``history_entry_revert`` reverts an entry as a whole;
``node_restore`` reverts the deletion of one node: its row and the attributes, edges, resource links and
references the deletion cascaded to, in the same transaction.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import pghistory
from django.db import DatabaseError, IntegrityError, connection, transaction

from graph.errors import HISTORY_BAD_PARAMETER, HISTORY_CANNOT_REVERT, HISTORY_UNKNOWN, GraphError, GraphNotFound
from graph.models.history import (
    ExternalResourceEvent,
    NodeAttributeEvent,
    NodeEvent,
    NodeResourceLinkEvent,
    ReferenceEvent,
    RelationshipEvent,
)
from kgsite.errors import require_permission

REVERT_PERMISSION = "graph.revert_history"
PRUNE_BATCH = 50_000


@dataclass(frozen=True)
class Tracked:
    key: str  # in URLs: /history/<key>/<event id>/
    noun: str
    table: str
    model: type
    node_columns: tuple[str, ...]  # columns naming a node (must exist for the row to go back)
    resource_columns: tuple[str, ...] = ()

    @property
    def events(self) -> str:
        return self.model._meta.db_table

    @property
    def pk(self) -> str:
        return self.model.pgh_tracked_model._meta.pk.column

    @property
    def columns(self) -> list[str]:
        tracked = {f.name for f in self.model.pgh_tracked_model._meta.concrete_fields}
        return [f.column for f in self.model._meta.concrete_fields if f.name in tracked]


NODES = Tracked("node", "node", "nodes", NodeEvent, ("parent_node_id",))
RESOURCES = Tracked("resource", "resource", "external_resources", ExternalResourceEvent, ())
ATTRIBUTES = Tracked("attribute", "attribute", "node_attributes", NodeAttributeEvent, ("node_id",))
RELATIONSHIPS = Tracked("relationship", "relationship", "relationships", RelationshipEvent,
                        ("source_node_id", "target_node_id"))
LINKS = Tracked("link", "resource link", "node_resource_links", NodeResourceLinkEvent, ("node_id",), ("resource_id",))
REFERENCES = Tracked("reference", "reference", "reference_tracking", ReferenceEvent,
                     ("source_node_id", "target_node_id"), ("source_resource_id", "target_resource_id"))
# Parents first: the order of inserts (deletes run it backwards).
TRACKED = (NODES, RESOURCES, ATTRIBUTES, RELATIONSHIPS, LINKS, REFERENCES)
BY_KEY = {tracked.key: tracked for tracked in TRACKED}


@dataclass
class RevertReport:
    deleted: dict[str, int] = field(default_factory=dict)
    restored: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def _text(counts: dict[str, int]) -> str:
        return ", ".join(f"{count:,} {noun}{'s' * (count != 1)}" for noun, count in counts.items() if count)

    @property
    def changed(self) -> int:
        return sum(self.deleted.values()) + sum(self.restored.values()) + sum(self.updated.values())

    def summary(self) -> str:
        parts = [f"{verb} {self._text(counts)}" for verb, counts in
                 (("deleted", self.deleted), ("restored", self.restored), ("put back the values of", self.updated))
                 if self._text(counts)]
        text = ("Reverted: " + "; ".join(parts)) if parts else "Nothing to revert: everything is as it was before"
        if self._text(self.left_out):
            text += f"; left out {self._text(self.left_out)} (a node or resource it needs is gone, or its path or " \
                    "key is taken)"
        return text + "."


def tracked_of(key: str) -> Tracked:
    try:
        return BY_KEY[key]
    except KeyError:
        raise GraphNotFound(f"there is no history of {key[:40]!r}; one of: {', '.join(BY_KEY)}",
                            code=HISTORY_UNKNOWN) from None


def _exists_clauses(tracked: Tracked, alias: str) -> str:
    clauses = [f"({alias}.{c} IS NULL OR EXISTS (SELECT 1 FROM nodes WHERE node_id = {alias}.{c}))"
               for c in tracked.node_columns]
    clauses += [f"({alias}.{c} IS NULL OR EXISTS (SELECT 1 FROM external_resources WHERE resource_id = {alias}.{c}))"
                for c in tracked.resource_columns]
    return " AND ".join(clauses) or "true"


def _firsts(tracked: Tracked) -> str:
    """Per object among the events ``%(ids)s``: the first event (its row: the state before), the last one's id,
    whether the object was deleted by them, and the state right after them (the next event's row, if any)."""
    return f"""
        firsts AS (
            SELECT DISTINCT ON (pgh_obj_id) * FROM {tracked.events} WHERE pgh_id = ANY(%(ids)s)
            ORDER BY pgh_obj_id, pgh_id
        ),
        lasts AS (
            SELECT pgh_obj_id, max(pgh_id) AS last_id FROM {tracked.events} WHERE pgh_id = ANY(%(ids)s)
            GROUP BY pgh_obj_id
        )"""


def _revert_table_deletes(cursor, tracked: Tracked, ids: list[int]) -> int:
    """Objects the events inserted: delete them."""
    cursor.execute(f"""
        WITH {_firsts(tracked)}
        DELETE FROM {tracked.table} t USING firsts f
        WHERE t.{tracked.pk} = f.pgh_obj_id AND f.pgh_label = 'insert'
    """, {"ids": ids})
    return cursor.rowcount


def _revert_table_updates(cursor, tracked: Tracked, ids: list[int]) -> int:
    """Objects the events updated (or deleted, and that exist again): the fields they changed go back."""
    columns = [c for c in tracked.columns if c != tracked.pk]
    after = ", ".join(f"CASE WHEN nx.pgh_id IS NULL THEN t.{c} ELSE nx.{c} END AS after_{c}" for c in columns)
    assignments = ", ".join(f"{c} = CASE WHEN f.{c} IS DISTINCT FROM a.after_{c} THEN f.{c} ELSE t.{c} END"
                            for c in columns)
    changed = " OR ".join(f"f.{c} IS DISTINCT FROM a.after_{c}" for c in columns)
    cursor.execute(f"""
        WITH {_firsts(tracked)},
        afters AS (
            SELECT f.pgh_obj_id, {after}
            FROM firsts f JOIN lasts l USING (pgh_obj_id)
            JOIN {tracked.table} t ON t.{tracked.pk} = f.pgh_obj_id
            LEFT JOIN LATERAL (
                SELECT * FROM {tracked.events} n WHERE n.pgh_obj_id = f.pgh_obj_id AND n.pgh_id > l.last_id
                ORDER BY n.pgh_id LIMIT 1
            ) nx ON true
            WHERE f.pgh_label <> 'insert'
        )
        UPDATE {tracked.table} t SET {assignments}
        FROM firsts f JOIN afters a USING (pgh_obj_id)
        WHERE t.{tracked.pk} = f.pgh_obj_id AND ({changed}) AND {_exists_clauses(tracked, 'f')}
    """, {"ids": ids})
    return cursor.rowcount


def _revert_table_inserts(cursor, tracked: Tracked, ids: list[int]) -> tuple[int, int]:
    """Objects the events deleted and that are still gone: inserted again from the first event's row."""
    columns = ", ".join(tracked.columns)
    values = ", ".join(f"f.{c}" for c in tracked.columns)
    order = "nlevel(f.path) NULLS FIRST, " if tracked is NODES else ""
    cursor.execute(f"""
        WITH {_firsts(tracked)},
        wanted AS (
            SELECT f.* FROM firsts f
            WHERE f.pgh_label <> 'insert'
              AND NOT EXISTS (SELECT 1 FROM {tracked.table} t WHERE t.{tracked.pk} = f.pgh_obj_id)
              AND EXISTS (SELECT 1 FROM {tracked.events} d WHERE d.pgh_obj_id = f.pgh_obj_id
                          AND d.pgh_id = ANY(%(ids)s) AND d.pgh_label = 'delete')
        )
        SELECT count(*) FROM wanted
    """, {"ids": ids})
    wanted = cursor.fetchone()[0]
    if not wanted:
        return 0, 0
    cursor.execute(f"""
        WITH {_firsts(tracked)}
        INSERT INTO {tracked.table} ({columns})
        SELECT {values} FROM firsts f
        WHERE f.pgh_label <> 'insert'
          AND NOT EXISTS (SELECT 1 FROM {tracked.table} t WHERE t.{tracked.pk} = f.pgh_obj_id)
          AND EXISTS (SELECT 1 FROM {tracked.events} d WHERE d.pgh_obj_id = f.pgh_obj_id
                      AND d.pgh_id = ANY(%(ids)s) AND d.pgh_label = 'delete')
          AND {_exists_clauses(tracked, 'f')}
        ORDER BY {order}f.pgh_obj_id
        ON CONFLICT DO NOTHING
    """, {"ids": ids})
    return cursor.rowcount, wanted - cursor.rowcount


class _NodeLeftOut(Exception):
    pass


def _revert(events: dict[Tracked, list[int]], *, user, what: str, node_required: bool = False) -> RevertReport:
    require_permission(user, REVERT_PERMISSION, what)
    report = RevertReport()
    try:
        with transaction.atomic(), pghistory.context(operation="revert", user=getattr(user, "pk", None)), \
                connection.cursor() as cursor:
            for tracked in reversed(TRACKED):
                if events.get(tracked):
                    report.deleted[tracked.noun] = _revert_table_deletes(cursor, tracked, events[tracked])
            for tracked in TRACKED:
                ids = events.get(tracked)
                if not ids:
                    continue
                restored, left_out = _revert_table_inserts(cursor, tracked, ids)
                if tracked is NODES and node_required and left_out:
                    raise _NodeLeftOut()
                report.restored[tracked.noun] = restored
                report.left_out[tracked.noun] = left_out
                report.updated[tracked.noun] = _revert_table_updates(cursor, tracked, ids)
    except _NodeLeftOut:
        raise GraphError("the node cannot be restored: its path or external key belongs to another node now, or "
                         "its parent is gone; move or rename that node first", code=HISTORY_CANNOT_REVERT) from None
    except (IntegrityError, DatabaseError) as exc:
        message = str(getattr(exc, "__cause__", None) or exc).strip().splitlines()[0]
        raise GraphError(f"the database refused the revert, so nothing was changed: {message}",
                         code=HISTORY_CANNOT_REVERT) from exc
    return report


def history_event_revert(*, key: str, event_id: int, user=None) -> RevertReport:
    """Revert one recorded change (an event of the ``key`` table)."""
    tracked = tracked_of(key)
    if not tracked.model.objects.filter(pgh_id=event_id).exists():
        raise GraphNotFound(f"there is no {tracked.noun} history event {event_id}", code=HISTORY_UNKNOWN)
    return _revert({tracked: [event_id]}, user=user, what="revert recorded changes")


def entry_key_parse(entry: str) -> tuple[str, object]:
    """``"c<uuid>"`` (a history context) or ``"x<transaction id>"`` (a transaction without one)."""
    if isinstance(entry, str) and entry.startswith("c"):
        try:
            return "pgh_context_id", uuid.UUID(entry[1:])
        except ValueError:
            pass
    if isinstance(entry, str) and entry.startswith("x") and entry[1:].isascii() and entry[1:].isdigit() \
            and len(entry) < 20:
        return "pgh_xact", int(entry[1:])
    raise GraphError(f"{entry[:60]!r} is not a history entry (c<uuid> or x<number>)", code=HISTORY_BAD_PARAMETER)


def entry_events(entry: str) -> dict[Tracked, list[int]]:
    column, value = entry_key_parse(entry)
    events = {}
    for tracked in TRACKED:
        filters = {column: value}
        if column == "pgh_xact":
            filters["pgh_context_id__isnull"] = True
        ids = list(tracked.model.objects.filter(**filters).values_list("pgh_id", flat=True))
        if ids:
            events[tracked] = ids
    if not events:
        raise GraphNotFound(f"there is no history entry {entry[:60]}", code=HISTORY_UNKNOWN)
    return events


def history_entry_revert(*, entry: str, user=None) -> RevertReport:
    """Revert a whole entry: a request, command, import, merge or bulk review (or a plain-SQL transaction)."""
    return _revert(entry_events(entry), user=user, what="revert recorded changes")


def node_deletion(node_id: int):
    """The event that deleted node ``node_id`` (the last one), if it is deleted."""
    return NodeEvent.objects.filter(pgh_obj_id=node_id, pgh_label="delete").order_by("-pgh_id").first()


def node_restore(*, node_id: int, user=None) -> RevertReport:
    """Restore a deleted node with what its deletion took along (same transaction): attributes, relationships
    (those whose other end still exists), resource links and references."""
    from graph.models import Node

    if Node.objects.filter(pk=node_id).exists():
        raise GraphError(f"node {node_id} is not deleted", code=HISTORY_CANNOT_REVERT, node_id=node_id)
    deletion = node_deletion(node_id)
    if deletion is None:
        raise GraphNotFound(f"there is no record of a node {node_id} being deleted", code=HISTORY_UNKNOWN)
    xact = deletion.pgh_xact
    events: dict[Tracked, list[int]] = {NODES: [deletion.pgh_id]}
    for tracked in TRACKED[2:]:
        ids: set[int] = set()
        for column in tracked.node_columns:
            ids.update(tracked.model.objects.filter(pgh_xact=xact, pgh_label="delete", **{column: node_id})
                       .values_list("pgh_id", flat=True))
        if ids:
            events[tracked] = sorted(ids)
    return _revert(events, user=user, what="restore deleted nodes", node_required=True)


@dataclass
class PruneReport:
    older_than_days: int
    deleted: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        if not self.older_than_days:
            return "History is kept for ever (history_retention_days = 0): nothing pruned."
        return (f"Pruned {self.deleted:,} history event{'s' * (self.deleted != 1)} older than "
                f"{self.older_than_days:,} days in {self.seconds:.1f} s.")


def history_prune(*, older_than_days: int | None = None, dry_run: bool = False) -> PruneReport:
    """Delete the events older than ``older_than_days`` (default: ``history_retention_days``; 0 keeps all), in
    batches of ``PRUNE_BATCH`` (each its own transaction), and the contexts no event names any more."""
    from config_admin.selectors import config_get

    days = int(config_get("history_retention_days")) if older_than_days is None else older_than_days
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 36_500:
        raise GraphError("the age must be a whole number of days from 0 to 36,500", code=HISTORY_BAD_PARAMETER)
    report = PruneReport(older_than_days=days)
    if not days:
        return report
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for tracked in TRACKED:
            while True:
                with transaction.atomic():
                    if dry_run:
                        cursor.execute(f"SELECT count(*) FROM {tracked.events} "
                                       "WHERE pgh_created_at < now() - make_interval(days => %s)", [days])
                        report.deleted += cursor.fetchone()[0]
                        break
                    cursor.execute(f"""
                        DELETE FROM {tracked.events} WHERE pgh_id IN (
                            SELECT pgh_id FROM {tracked.events}
                            WHERE pgh_created_at < now() - make_interval(days => %s) LIMIT %s)
                    """, [days, PRUNE_BATCH])
                    report.deleted += cursor.rowcount
                    if cursor.rowcount < PRUNE_BATCH:
                        break
        if not dry_run:
            unions = " UNION ALL ".join(f"SELECT 1 FROM {t.events} e WHERE e.pgh_context_id = c.id" for t in TRACKED)
            with transaction.atomic():
                cursor.execute(f"""
                    DELETE FROM pghistory_context c
                    WHERE c.updated_at < now() - make_interval(days => %s) AND NOT EXISTS ({unions})
                """, [days])
    report.seconds = time.perf_counter() - started
    return report


def history_context_bind(cursor) -> None:
    """Bind the open history context (if any) to the transaction of ``cursor``, a raw psycopg cursor or a COPY
    that bypasses Django's cursor wrapper (where pghistory sets it per statement)."""
    from pghistory import runtime

    context = getattr(runtime._tracker, "value", None)  # pghistory keeps the open context in a thread local
    if context is None:
        return
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    cursor.execute("SELECT set_config('pghistory.context_id', %s, true), "
                   "set_config('pghistory.context_metadata', %s, true)",
                   [str(context.id), json.dumps(context.metadata, cls=DjangoJSONEncoder)])
