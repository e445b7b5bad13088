"""Reading the history of graph edits (docs/history.md): a node's history, one entry, the recent entries.

An event of ``update`` holds the row before the change (graph.models.history); the values after it are the next
event's row for the same object, or the live row when there is none. Pages read a bounded number of events: each
table's events of a node come through the index on its node column, at most ``offset + PER_PAGE + 1`` of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection

from graph.errors import HISTORY_BAD_PARAMETER, HISTORY_UNKNOWN, GraphError, GraphNotFound
from graph.models import Node
from graph.services.history import BY_KEY, NODES, TRACKED, Tracked, entry_key_parse
from kgsite.numbers import page_number

PER_PAGE = 25
MAX_PAGE = 400
RECENT_SCAN = 500  # newest events read per table for the list of recent entries
VALUE_SHOWN = 200  # characters of a value a diff shows
# Columns a diff leaves out: the key, and the bookkeeping every insert sets.
_NOT_SHOWN = {"created_at"}


@dataclass(frozen=True)
class Change:
    column: str
    old: str | None
    new: str | None


@dataclass
class HistoryEvent:
    tracked: Tracked
    event_id: int
    label: str
    at: datetime
    who: str
    entry: str
    object_id: int
    title: str = ""
    changes: list[Change] = field(default_factory=list)

    @property
    def verb(self) -> str:
        return {"insert": "created", "update": "changed", "delete": "deleted"}.get(self.label, self.label)


@dataclass
class HistoryPage:
    events: list[HistoryEvent]
    page: int
    more: bool

    @property
    def first_shown(self) -> int:
        return (self.page - 1) * PER_PAGE + 1

    @property
    def last_shown(self) -> int:
        return (self.page - 1) * PER_PAGE + len(self.events)


@dataclass
class EntrySummary:
    entry: str
    at: datetime
    who: str
    counts: dict[str, int]  # noun -> events (up to RECENT_SCAN per table)

    @property
    def what(self) -> str:
        return ", ".join(f"{count:,} {noun}{'s' * (count != 1)}" for noun, count in self.counts.items())


def page_checked(value) -> int:
    return page_number(value, high=MAX_PAGE, code=HISTORY_BAD_PARAMETER, name="page", error=GraphError)


def _shown(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    return text if len(text) <= VALUE_SHOWN else text[:VALUE_SHOWN - 1] + "…"


def _values(tracked: Tracked, instance) -> dict[str, object]:
    return {f.column: getattr(instance, f.attname) for f in tracked.model._meta.concrete_fields
            if f.column in tracked.columns}


def _who(contexts: dict, users: dict, context_id, role: str) -> str:
    metadata = contexts.get(context_id) or {}
    user_id = metadata.get("user")
    operation = metadata.get("operation")
    suffix = f" ({operation})" if operation else ""
    if user_id is not None:
        return f"{users.get(user_id, f'user {user_id}')}{suffix}"
    if metadata.get("command"):
        return f"manage.py {metadata['command']}{suffix}"
    if metadata.get("maintenance"):
        return f"worker {metadata.get('worker', '')}: {metadata['maintenance']}".strip()
    if metadata.get("worker"):
        return f"worker {metadata['worker']}{suffix}"
    if operation:
        return operation
    return f"database role {role}"


def _context_data(events: list) -> tuple[dict, dict]:
    from pghistory.models import Context

    ids = {event.pgh_context_id for event in events if event.pgh_context_id}
    contexts = dict(Context.objects.filter(pk__in=ids).values_list("id", "metadata")) if ids else {}
    user_ids = {m.get("user") for m in contexts.values() if isinstance(m, dict) and m.get("user") is not None}
    users = {}
    if user_ids:
        user_model = get_user_model()
        users = {u.pk: u.get_username() for u in user_model.objects.filter(pk__in=user_ids)}
    return contexts, users


def _node_names(ids: set[int]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    return dict(Node.objects.filter(pk__in=ids).values_list("node_id", "name")) if ids else {}


def _title(tracked: Tracked, values: dict, names: dict[int, str]) -> str:
    def node(node_id):
        return f"{names.get(node_id, 'deleted node')} ({node_id})" if node_id else "—"

    if tracked.key == "node":
        return f"node “{values.get('name')}”"
    if tracked.key == "attribute":
        return f"attribute {values.get('attribute_type')}.{values.get('attribute_key')} = " \
               f"{_shown(values.get('attribute_value'))}"
    if tracked.key == "relationship":
        return f"relationship {node(values.get('source_node_id'))} — {values.get('relationship_type')} → " \
               f"{node(values.get('target_node_id'))}"
    if tracked.key == "link":
        return f"resource link of {node(values.get('node_id'))} to resource {values.get('resource_id')}"
    if tracked.key == "reference":
        return f"reference ({values.get('reference_type')})"
    return f"resource {_shown(values.get('url'))}"


def events_described(rows: list[tuple[Tracked, int]]) -> list[HistoryEvent]:
    """The events (table, pgh_id), in the given order, with their diffs."""
    by_table: dict[Tracked, list[int]] = {}
    for tracked, event_id in rows:
        by_table.setdefault(tracked, []).append(event_id)
    loaded: dict[tuple[str, int], object] = {}
    after: dict[tuple[str, int], dict | None] = {}
    all_events = []
    for tracked, ids in by_table.items():
        events = {e.pgh_id: e for e in tracked.model.objects.filter(pgh_id__in=ids)}
        all_events += events.values()
        with connection.cursor() as cursor:
            cursor.execute(f"""
                SELECT e.pgh_id, (SELECT n.pgh_id FROM {tracked.events} n WHERE n.pgh_obj_id = e.pgh_obj_id
                                  AND n.pgh_id > e.pgh_id ORDER BY n.pgh_id LIMIT 1)
                FROM {tracked.events} e WHERE e.pgh_id = ANY(%s)
            """, [ids])
            following = dict(cursor.fetchall())
        nexts = {e.pgh_id: e for e in tracked.model.objects.filter(pgh_id__in=[i for i in following.values() if i])}
        live_model = tracked.model.pgh_tracked_model
        live = {o.pk: o for o in live_model.objects.filter(
            pk__in=[e.pgh_obj_id for e in events.values() if e.pgh_label == "update"])}
        for event_id, event in events.items():
            loaded[(tracked.key, event_id)] = event
            if event.pgh_label == "update":
                nxt = nexts.get(following.get(event_id))
                source = nxt if nxt is not None else live.get(event.pgh_obj_id)
                after[(tracked.key, event_id)] = _values(tracked, source) if source is not None else None
    contexts, users = _context_data(all_events)
    name_ids: set[int] = set()
    for (key, _), event in loaded.items():
        values = _values(BY_KEY[key], event)
        name_ids.update(v for c, v in values.items() if c in ("source_node_id", "target_node_id", "node_id"))
    names = _node_names(name_ids)
    result = []
    for tracked, event_id in rows:
        event = loaded.get((tracked.key, event_id))
        if event is None:
            continue
        values = _values(tracked, event)
        shown = [c for c in tracked.columns if c != tracked.pk and c not in _NOT_SHOWN]
        if event.pgh_label == "update":
            new = after.get((tracked.key, event_id))
            changes = [Change(c, _shown(values[c]), _shown(new[c]) if new else "(deleted since)") for c in shown
                       if new is None or values[c] != new[c]]
            title_values = new or values
        elif event.pgh_label == "insert":
            changes = [Change(c, None, _shown(values[c])) for c in shown if values[c] not in (None, "", {}, [])]
            title_values = values
        else:
            changes = [Change(c, _shown(values[c]), None) for c in shown if values[c] not in (None, "", {}, [])]
            title_values = values
        entry = f"c{event.pgh_context_id}" if event.pgh_context_id else f"x{event.pgh_xact}"
        result.append(HistoryEvent(
            tracked=tracked, event_id=event_id, label=event.pgh_label, at=event.pgh_created_at,
            who=_who(contexts, users, event.pgh_context_id, event.pgh_db_role), entry=entry,
            object_id=event.pgh_obj_id, title=_title(tracked, title_values, names), changes=changes))
    return result



def _node_filters(tracked: Tracked) -> list[str]:
    if tracked is NODES:
        return ["pgh_obj_id"]
    return [c for c in tracked.node_columns if c != "parent_node_id"]


def node_history(*, node_id: int, page: int = 1) -> HistoryPage:
    """The events of a node and of the rows naming it (attributes, edges, resource links, references), newest
    first; works for a deleted node too."""
    wanted = page * PER_PAGE + 1
    parts, params = [], []
    for index, tracked in enumerate(TRACKED):
        for column in _node_filters(tracked):
            parts.append(f"(SELECT {index} AS t, pgh_id, pgh_created_at FROM {tracked.events} WHERE {column} = %s "
                         f"ORDER BY pgh_created_at DESC, pgh_id DESC LIMIT %s)")
            params += [node_id, wanted]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ".join(parts) + " ORDER BY pgh_created_at DESC, t, pgh_id DESC OFFSET %s LIMIT %s",
                       [*params, (page - 1) * PER_PAGE, PER_PAGE + 1])
        rows = cursor.fetchall()
    events = events_described([(TRACKED[t], pgh_id) for t, pgh_id, _ in rows[:PER_PAGE]])
    return HistoryPage(events=events, page=page, more=len(rows) > PER_PAGE)


def entry_page(*, entry: str, page: int = 1) -> HistoryPage:
    """The events of one entry (a history context, or a transaction without one), in the order they happened."""
    column, value = entry_key_parse(entry)
    extra = " AND pgh_context_id IS NULL" if column == "pgh_xact" else ""
    parts, params = [], []
    for index, tracked in enumerate(TRACKED):
        parts.append(f"(SELECT {index} AS t, pgh_id FROM {tracked.events} WHERE {column} = %s{extra} "
                     "ORDER BY pgh_id LIMIT %s)")
        params += [value, page * PER_PAGE + 1]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts) + " ORDER BY t, pgh_id OFFSET %s LIMIT %s",
                       [*params, (page - 1) * PER_PAGE, PER_PAGE + 1])
        rows = cursor.fetchall()
    if not rows and page == 1:
        raise GraphNotFound(f"there is no history entry {entry[:60]}", code=HISTORY_UNKNOWN)
    events = events_described([(TRACKED[t], pgh_id) for t, pgh_id in rows[:PER_PAGE]])
    return HistoryPage(events=events, page=page, more=len(rows) > PER_PAGE)


def entry_size(entry: str, cap: int = 10_000) -> dict[str, int]:
    """Events per table in an entry, each counted up to ``cap`` (an import can hold millions)."""
    column, value = entry_key_parse(entry)
    extra = " AND pgh_context_id IS NULL" if column == "pgh_xact" else ""
    counts = {}
    with connection.cursor() as cursor:
        for tracked in TRACKED:
            cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {tracked.events} WHERE {column} = %s{extra} "
                           "LIMIT %s) s", [value, cap])
            count = cursor.fetchone()[0]
            if count:
                counts[tracked.noun] = count
    return counts


def recent_entries(*, limit: int = 30) -> list[EntrySummary]:
    """The latest entries, newest first, from the newest ``RECENT_SCAN`` events of each table."""
    parts = [f"(SELECT {i} AS t, pgh_id, pgh_created_at, pgh_context_id, pgh_xact, pgh_db_role "
             f"FROM {tracked.events} ORDER BY pgh_created_at DESC, pgh_id DESC LIMIT {RECENT_SCAN})"
             for i, tracked in enumerate(TRACKED)]
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT CASE WHEN pgh_context_id IS NULL THEN 'x' || pgh_xact ELSE 'c' || pgh_context_id END AS entry,
                   max(pgh_created_at), min(pgh_context_id::text), min(pgh_db_role),
                   array_agg(t)
            FROM ({' UNION ALL '.join(parts)}) recent
            GROUP BY 1 ORDER BY 2 DESC LIMIT %s
        """, [limit])
        rows = cursor.fetchall()

    class _Event:  # what _context_data reads
        def __init__(self, context_id):
            self.pgh_context_id = context_id

    import uuid

    contexts, users = _context_data([_Event(uuid.UUID(row[2])) for row in rows if row[2]])
    summaries = []
    for entry, at, context_id, role, tables in rows:
        counts: dict[str, int] = {}
        for t in tables:
            counts[TRACKED[t].noun] = counts.get(TRACKED[t].noun, 0) + 1
        summaries.append(EntrySummary(entry=entry, at=at,
                                      who=_who(contexts, users, uuid.UUID(context_id) if context_id else None, role),
                                      counts=counts))
    return summaries
