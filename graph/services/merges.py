"""Merging a duplicate node into another, and undoing it (docs/duplicates.md, "Merge" and "Unmerge").

``node_merge(survivor_id=A, merged_id=B)`` moves everything of B to A in **one transaction** and records in
``node_merges`` what it did, so that ``node_unmerge`` replays it backwards:

* **attributes** move to A. One A already has (same type, key and value: a node holds each value once) is
  removed, A's own copy staying;
* **relationships** of B are re-pointed to A. One between A and B would become a self-loop: removed. One that
  would duplicate a link of A (same other end, direction and type) is resolved by one rule: *a curated link beats
  an inferred one; otherwise A's own link stays*. The losing link is removed;
* **resource links** move (one duplicating a link of A to the same resource with the same type is removed), and
  **references** made or received by B now name A;
* **children** of B become A's, keeping their labels; one whose label A's children already use gets
  ``<label>_<B's id>``. Their subtrees follow (the hierarchy triggers);
* **rejections**, **"not the same" pairs** and **duplicate candidates** naming B now name A (one that A already has
  with the same partner is removed, one between A and B is removed);
* **B's row** is deleted. While the merge stands, B's id redirects to A (``node_redirect``): its node page, its
  neighbourhood and its admin page lead to A. A is queued for inference, so links follow the merged attributes.

Every removed row (with the inference reasons of removed links) is kept in the merge record as it was, and every
moved row by id and column. **Unmerge** re-inserts B as it was, moves back exactly the moved rows that are still
where the merge put them, and re-inserts the removed rows; rows edited since keep their edits (a moved attribute
whose value changed goes back to B with its new value), rows deleted since stay deleted, and rows added to A since
stay with A. Both are one transaction each and one history entry each (docs/history.md).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field

import pghistory
from django.db import connection, transaction
from django.utils import timezone

from graph.errors import (
    MERGE_ALREADY_UNDONE,
    MERGE_CANNOT_UNDO,
    MERGE_NOT_ALLOWED,
    MERGE_UNKNOWN,
    NODE_MISSING,
    GraphError,
    GraphNotFound,
)
from graph.models import NodeMerge
from kgsite.errors import require_permission

MERGE_PERMISSION = "graph.merge_node"
REDIRECT_HOPS = 20  # merges of merges: A into C after B into A; a longer chain is refused as a loop

# The tables a merge writes, with the columns that name nodes. Pair tables hold the lower node id first.
_PAIR_TABLES = (
    ("inference_rejections", "rejection_id", "source_node_id", "target_node_id", ("relationship_type",)),
    ("distinct_node_pairs", "distinct_id", "node_low_id", "node_high_id", ()),
    ("duplicate_candidates", "candidate_id", "node_low_id", "node_high_id", ()),
)


# Re-point relationships and give each the score its new ends give: the formula of relationships_confidence_guard
# (graph/sql/confidence.sql), which stands aside for these statements. One statement for a hub's 30,000 links
# instead of the row trigger's two node lookups per link.
_SCORE = """relationship_confidence(relationship_evidence(x.auto_managed, x.inference_confidence, x.stated_confidence),
                                  x.source_reliability, s.confidence_score, t.confidence_score)"""
_SCORED = f"""confidence_score = {_SCORE},
        confidence_last_updated = CASE WHEN {_SCORE} IS DISTINCT FROM x.confidence_score THEN now()
                                       ELSE x.confidence_last_updated END"""
# Merge: B's ends become A.
_MERGE_LINKS_SQL = f"""
    UPDATE relationships x
    SET source_node_id = s.node_id, target_node_id = t.node_id, {_SCORED}
    FROM nodes s, nodes t
    WHERE (x.source_node_id = %(b)s OR x.target_node_id = %(b)s)
      AND s.node_id = CASE WHEN x.source_node_id = %(b)s THEN %(a)s ELSE x.source_node_id END
      AND t.node_id = CASE WHEN x.target_node_id = %(b)s THEN %(a)s ELSE x.target_node_id END
    RETURNING x.relationship_id, x.source_node_id = %(a)s, x.target_node_id = %(a)s
"""
# Unmerge: the recorded ends (side 's' or 't') that still name A go back to B.
_UNMERGE_LINKS_SQL = f"""
    UPDATE relationships x
    SET source_node_id = s.node_id, target_node_id = t.node_id, {_SCORED}
    FROM (SELECT id, 's' AS side FROM unnest(%(src)s::integer[]) AS id
          UNION ALL
          SELECT id, 't' FROM unnest(%(tgt)s::integer[]) AS id) m, nodes s, nodes t
    WHERE x.relationship_id = m.id
      AND ((m.side = 's' AND x.source_node_id = %(a)s) OR (m.side = 't' AND x.target_node_id = %(a)s))
      AND s.node_id = CASE WHEN m.side = 's' THEN %(b)s ELSE x.source_node_id END
      AND t.node_id = CASE WHEN m.side = 't' THEN %(b)s ELSE x.target_node_id END
"""


@contextmanager
def _setting(cursor, name: str):
    """Turn the transaction-local flag ``name`` on for the statements inside, and back to what it was after them.
    (On an error the transaction or savepoint rolls back, and the flag with it.)"""
    cursor.execute("SELECT current_setting(%s, true), set_config(%s, 'on', true)", [name, name])
    previous = cursor.fetchone()[0]
    yield
    cursor.execute("SELECT set_config(%s, %s, true)", [name, previous or ""])


@dataclass
class MergeReport:
    merge_id: int
    survivor_id: int
    merged_id: int
    merged_name: str
    moved: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        moved = ", ".join(f"{count:,} {name}" for name, count in self.moved.items() if count) or "nothing"
        removed = ", ".join(f"{count:,} {name}" for name, count in self.removed.items() if count)
        text = f"Merged “{self.merged_name}” ({self.merged_id}) into node {self.survivor_id}: moved {moved}"
        return text + (f"; removed {removed} (kept in the merge record)" if removed else "") + "."


@dataclass
class UnmergeReport:
    merge_id: int
    survivor_id: int
    merged_id: int
    merged_name: str
    moved_back: dict[str, int] = field(default_factory=dict)
    restored: dict[str, int] = field(default_factory=dict)
    not_restored: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        back = ", ".join(f"{count:,} {name}" for name, count in self.moved_back.items() if count) or "nothing"
        text = f"Undid the merge of “{self.merged_name}” ({self.merged_id}) into node {self.survivor_id}: moved " \
               f"back {back}"
        restored = ", ".join(f"{count:,} {name}" for name, count in self.restored.items() if count)
        if restored:
            text += f"; re-inserted {restored}"
        missing = ", ".join(f"{count:,} {name}" for name, count in self.not_restored.items() if count)
        if missing:
            text += f"; left out {missing} (changed or gone since the merge)"
        return text + "."


def node_redirect(node_id: int) -> int | None:
    """The node a merged-away ``node_id`` now leads to (following merges of merges), or None."""
    target, seen = None, {node_id}
    current = node_id
    with connection.cursor() as cursor:
        for _ in range(REDIRECT_HOPS):
            cursor.execute("SELECT survivor_id FROM node_merges WHERE merged_node_id = %s AND unmerged_at IS NULL",
                           [current])
            row = cursor.fetchone()
            if row is None or row[0] in seen:
                break
            target = current = row[0]
            seen.add(current)
    return target


def active_merge_of(node_id: int) -> NodeMerge | None:
    return NodeMerge.objects.filter(merged_node_id=node_id, unmerged_at__isnull=True).first()


def _rows(cursor) -> list:
    return [row[0] for row in cursor.fetchall()]


def _json_rows(cursor) -> list[dict]:
    """``to_jsonb`` images (Django's connection hands jsonb over as text, for JSONField to decode)."""
    return [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in cursor.fetchall()]


def _insertable_columns(cursor, table: str) -> list[str]:
    cursor.execute("""
        SELECT attname FROM pg_attribute
        WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
        ORDER BY attnum
    """, [table])
    return _rows(cursor)


def _reinsert(cursor, table: str, rows: list[dict]) -> int:
    """Insert ``rows`` (``to_jsonb`` images) back into ``table`` as they were; a row whose key or unique values are
    taken meanwhile is left out. Returns how many went in."""
    if not rows:
        return 0
    columns = ", ".join(f'"{name}"' for name in _insertable_columns(cursor, table))
    cursor.execute(f"""
        INSERT INTO {table} ({columns})
        SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb)
        ON CONFLICT DO NOTHING
    """, [json.dumps(rows)])
    return cursor.rowcount


def _lock_nodes(cursor, ids: list[int]) -> dict[int, dict]:
    cursor.execute("""
        SELECT node_id, name, path::text FROM nodes WHERE node_id = ANY(%s) ORDER BY node_id FOR UPDATE
    """, [ids])
    return {row[0]: {"name": row[1], "path": row[2]} for row in cursor.fetchall()}


def _merge_flag(cursor, on: bool) -> None:
    cursor.execute("SELECT set_config('kgsite.node_merge', %s, true)", ["on" if on else "off"])


def merge_preview(*, survivor_id: int, merged_id: int) -> dict[str, int]:
    """What a merge would move (counts, bounded by the merged node's own rows): for the confirmation page."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT (SELECT count(*) FROM node_attributes WHERE node_id = %(b)s),
                   (SELECT count(*) FROM relationships WHERE source_node_id = %(b)s OR target_node_id = %(b)s),
                   (SELECT count(*) FROM relationships WHERE (source_node_id, target_node_id) IN ((%(a)s, %(b)s),
                                                                                             (%(b)s, %(a)s))),
                   (SELECT count(*) FROM node_resource_links WHERE node_id = %(b)s),
                   (SELECT count(*) FROM reference_tracking WHERE source_node_id = %(b)s OR target_node_id = %(b)s),
                   (SELECT count(*) FROM nodes WHERE parent_node_id = %(b)s)
        """, {"a": survivor_id, "b": merged_id})
        attributes, relationships, self_loops, links, references, children = cursor.fetchone()
    return {"attributes": attributes, "relationships": relationships, "self_loops": self_loops,
            "resource_links": links, "references": references, "children": children}


def node_merge(*, survivor_id: int, merged_id: int, user=None) -> MergeReport:
    """Merge node ``merged_id`` (B) into ``survivor_id`` (A); see the module docstring. One transaction."""
    require_permission(user, MERGE_PERMISSION, "merge nodes")
    if survivor_id == merged_id:
        raise GraphError("a node cannot be merged into itself", code=MERGE_NOT_ALLOWED, node_id=merged_id)
    a, b = survivor_id, merged_id
    with transaction.atomic(), pghistory.context(operation="merge", survivor=a, merged=b,
                                                 user=getattr(user, "pk", None)) as history, \
            connection.cursor() as cursor:
        nodes = _lock_nodes(cursor, [a, b])
        for node_id in (a, b):
            if node_id not in nodes:
                redirect = node_redirect(node_id)
                hint = f" (it was merged into node {redirect})" if redirect else ""
                raise GraphError(f"there is no node with id {node_id}{hint}", code=NODE_MISSING, node_id=node_id)
        a_path, b_path = nodes[a]["path"], nodes[b]["path"]
        if a_path and b_path and (a_path + ".").startswith(b_path + "."):
            raise GraphError(f"“{nodes[a]['name']}” is inside the subtree of “{nodes[b]['name']}”; merging would "
                             "put the subtree under itself. Move it out first, or merge the other way round",
                             code=MERGE_NOT_ALLOWED, node_id=a)
        cursor.execute("SELECT EXISTS (SELECT 1 FROM nodes WHERE parent_node_id = %s)", [b])
        if cursor.fetchone()[0] and not a_path:
            raise GraphError(f"“{nodes[b]['name']}” has children and “{nodes[a]['name']}” has no place in the "
                             "hierarchy (no path) to take them; give it a path first", code=MERGE_NOT_ALLOWED,
                             node_id=a)
        _merge_flag(cursor, True)
        moves: dict[str, list] = {}
        removed: dict[str, list] = {}

        # Attributes: A keeps its own copy of a value both hold.
        cursor.execute("""
            DELETE FROM node_attributes x USING node_attributes y
            WHERE x.node_id = %s AND y.node_id = %s AND y.value_key = x.value_key
            RETURNING to_jsonb(x)
        """, [b, a])
        removed["node_attributes"] = _json_rows(cursor)
        cursor.execute("UPDATE node_attributes SET node_id = %s WHERE node_id = %s RETURNING attribute_id", [a, b])
        moves["attributes"] = _rows(cursor)

        # Relationships: self-loops, then clashes (curated beats inferred, else A's stays), then the move.
        cursor.execute("""
            WITH b_links AS (
                SELECT r.relationship_id, r.relationship_type, coalesce(r.auto_managed, false) AS inferred,
                       CASE WHEN r.source_node_id = %(b)s THEN %(a)s ELSE r.source_node_id END AS new_source,
                       CASE WHEN r.target_node_id = %(b)s THEN %(a)s ELSE r.target_node_id END AS new_target
                FROM relationships r WHERE r.source_node_id = %(b)s OR r.target_node_id = %(b)s
            ),
            losers AS (
                SELECT relationship_id FROM b_links WHERE new_source = new_target
                UNION
                SELECT CASE WHEN l.inferred = false AND coalesce(r.auto_managed, false) THEN r.relationship_id
                            ELSE l.relationship_id END
                FROM b_links l JOIN relationships r
                  ON r.source_node_id = l.new_source AND r.target_node_id = l.new_target
                 AND r.relationship_type = l.relationship_type
                WHERE l.new_source <> l.new_target
                  AND (r.source_node_id = %(a)s OR r.target_node_id = %(a)s)  -- implied: A's links, read by index
            )
            SELECT array_agg(relationship_id) FROM losers
        """, {"a": a, "b": b})
        losers = cursor.fetchone()[0] or []
        cursor.execute("SELECT to_jsonb(x) FROM inference_reasons x WHERE relationship_id = ANY(%s)", [losers])
        removed["inference_reasons"] = _json_rows(cursor)
        cursor.execute("DELETE FROM relationships x WHERE relationship_id = ANY(%s) RETURNING to_jsonb(x)", [losers])
        removed["relationships"] = _json_rows(cursor)
        # The score follows the new end's confidence: computed here, set-based, with the guard standing aside
        # (graph/sql/confidence.sql, relationships_confidence_guard).
        with _setting(cursor, "kgsite.confidence_writer"):
            cursor.execute(_MERGE_LINKS_SQL, {"a": a, "b": b})
            moved_links = cursor.fetchall()
        # Which end was B's: a moved link had B, and not A (a link between them was removed as a self-loop), so
        # the end that names A now is the one that named B.
        moves["relationships_source"] = [row[0] for row in moved_links if row[1]]
        moves["relationships_target"] = [row[0] for row in moved_links if row[2]]

        # Resource links, references.
        cursor.execute("""
            DELETE FROM node_resource_links x USING node_resource_links y
            WHERE x.node_id = %s AND y.node_id = %s AND y.resource_id = x.resource_id
              AND y.link_type IS NOT DISTINCT FROM x.link_type
            RETURNING to_jsonb(x)
        """, [b, a])
        removed["node_resource_links"] = _json_rows(cursor)
        cursor.execute("UPDATE node_resource_links SET node_id = %s WHERE node_id = %s RETURNING link_id", [a, b])
        moves["resource_links"] = _rows(cursor)
        for column in ("source_node_id", "target_node_id"):
            cursor.execute(f"UPDATE reference_tracking SET {column} = %s WHERE {column} = %s RETURNING reference_id",
                           [a, b])
            moves[f"references_{column.split('_')[0]}"] = _rows(cursor)

        # Children: A's path plus their label (or <label>_<B> where A's children use it already); their subtrees
        # follow in the same statement.
        with _setting(cursor, "kgsite.hierarchy_rewrite"):
            cursor.execute("""
                WITH moved AS (
                    SELECT c.node_id, c.path AS old_path,
                           CASE WHEN EXISTS (SELECT 1 FROM nodes s WHERE s.path = a.path || subpath(c.path, -1))
                                THEN a.path || text2ltree(ltree2text(subpath(c.path, -1)) || '_' || %(b)s::text)
                                ELSE a.path || subpath(c.path, -1) END AS new_path
                    FROM nodes c, nodes a
                    WHERE c.parent_node_id = %(b)s AND a.node_id = %(a)s AND c.path IS NOT NULL
                )
                UPDATE nodes n
                SET path = CASE WHEN n.node_id = moved.node_id THEN moved.new_path
                                ELSE moved.new_path || subpath(n.path, nlevel(moved.old_path)) END,
                    parent_node_id = CASE WHEN n.node_id = moved.node_id THEN %(a)s ELSE n.parent_node_id END
                FROM moved WHERE n.path <@ moved.old_path
                RETURNING n.node_id, moved.old_path::text, n.node_id = moved.node_id
            """, {"a": a, "b": b})
            moves["children"] = [[row[0], row[1]] for row in cursor.fetchall() if row[2]]

        # Rejections, "not the same" pairs, candidates: re-keyed to A.
        for table, key, low, high, extra in _PAIR_TABLES:
            same = "".join(f" AND y.{column} = x.{column}" for column in extra)
            cursor.execute(f"""
                DELETE FROM {table} x
                WHERE (x.{low} = %(b)s OR x.{high} = %(b)s)
                  AND (x.{low} = %(a)s OR x.{high} = %(a)s OR EXISTS (
                        SELECT 1 FROM {table} y
                        WHERE y.{low} = least(%(a)s, CASE WHEN x.{low} = %(b)s THEN x.{high} ELSE x.{low} END)
                          AND y.{high} = greatest(%(a)s, CASE WHEN x.{low} = %(b)s THEN x.{high} ELSE x.{low} END)
                          {same}))
                RETURNING to_jsonb(x)
            """, {"a": a, "b": b})
            removed[table] = _json_rows(cursor)
            cursor.execute(f"""
                UPDATE {table} x
                SET {low} = least(%(a)s, CASE WHEN x.{low} = %(b)s THEN x.{high} ELSE x.{low} END),
                    {high} = greatest(%(a)s, CASE WHEN x.{low} = %(b)s THEN x.{high} ELSE x.{low} END)
                FROM {table} o
                WHERE o.{key} = x.{key} AND (x.{low} = %(b)s OR x.{high} = %(b)s)
                RETURNING x.{key}, o.{low}, o.{high}
            """, {"a": a, "b": b})
            moves[table] = [list(row) for row in cursor.fetchall()]

        cursor.execute("DELETE FROM nodes x WHERE node_id = %s RETURNING to_jsonb(x)", [b])
        merged_row = _json_rows(cursor)[0]
        _merge_flag(cursor, False)
        cursor.execute("SELECT inference_enqueue(ARRAY[%s]::integer[])", [a])
        merge = NodeMerge.objects.create(
            survivor_id=a, merged_node_id=b, merged_name=merged_row["name"], merged_row=merged_row, moves=moves,
            removed=removed, merged_by=user if getattr(user, "pk", None) else None, history_context=history.id)
    return MergeReport(
        merge_id=merge.pk, survivor_id=a, merged_id=b, merged_name=merged_row["name"],
        moved={"attributes": len(moves["attributes"]),
               "relationships": len(moved_links),
               "resource links": len(moves["resource_links"]),
               "references": len(moves["references_source"]) + len(moves["references_target"]),
               "children": len(moves["children"])},
        removed={"duplicate attributes": len(removed["node_attributes"]),
                 "self-loops and clashing relationships": len(removed["relationships"]),
                 "duplicate resource links": len(removed["node_resource_links"])})


def node_unmerge(*, merge_id: int, user=None) -> UnmergeReport:
    """Undo merge ``merge_id``: see the module docstring. One transaction."""
    require_permission(user, MERGE_PERMISSION, "undo merges")
    with transaction.atomic(), pghistory.context(operation="unmerge", merge=merge_id,
                                                 user=getattr(user, "pk", None)), \
            connection.cursor() as cursor:
        merge = NodeMerge.objects.select_for_update().filter(pk=merge_id).first()
        if merge is None:
            raise GraphNotFound(f"there is no merge with id {merge_id}", code=MERGE_UNKNOWN, merge_id=merge_id)
        if merge.unmerged_at is not None:
            raise GraphError(f"the merge of “{merge.merged_name}” into node {merge.survivor_id} was already undone "
                             f"on {merge.unmerged_at:%Y-%m-%d %H:%M}", code=MERGE_ALREADY_UNDONE, merge_id=merge_id)
        a, b = merge.survivor_id, merge.merged_node_id
        if a not in _lock_nodes(cursor, [a]):
            raise GraphError(f"node {a}, which “{merge.merged_name}” was merged into, no longer exists; restore it "
                             "from its history first", code=MERGE_CANNOT_UNDO, merge_id=merge_id)
        later = NodeMerge.objects.filter(merged_node_id=a, unmerged_at__isnull=True).exists()
        if later:
            raise GraphError(f"node {a} was itself merged into another node since; undo that merge first",
                             code=MERGE_CANNOT_UNDO, merge_id=merge_id)
        row = merge.merged_row
        cursor.execute("""
            SELECT EXISTS (SELECT 1 FROM nodes WHERE node_id = %s),
                   EXISTS (SELECT 1 FROM nodes WHERE path = %s::ltree),
                   EXISTS (SELECT 1 FROM nodes WHERE external_key = %s),
                   %s::integer IS NULL OR EXISTS (SELECT 1 FROM nodes WHERE node_id = %s)
        """, [b, row.get("path"), row.get("external_key"), row.get("parent_node_id"), row.get("parent_node_id")])
        id_taken, path_taken, key_taken, parent_there = cursor.fetchone()
        problem = ("a node with its id exists again (restored from its history?)" if id_taken else
                   f"another node now has its path {row.get('path')}" if path_taken else
                   f"another node now has its external key {row.get('external_key')}" if key_taken else
                   f"its parent (node {row.get('parent_node_id')}) no longer exists" if not parent_there else None)
        if problem:
            raise GraphError(f"cannot undo the merge of “{merge.merged_name}”: {problem}", code=MERGE_CANNOT_UNDO,
                             merge_id=merge_id)
        _merge_flag(cursor, True)
        moves, removed = merge.moves, merge.removed
        back: dict[str, int] = {}
        _reinsert(cursor, "nodes", [row])

        # Children still under A go back to B with their old paths, their subtrees with them, in one statement.
        children = moves.get("children", [])
        with _setting(cursor, "kgsite.hierarchy_rewrite"):
            cursor.execute("""
                WITH back AS (
                    SELECT c.node_id, m.old_path, c.path AS current_path
                    FROM unnest(%(ids)s::integer[], %(paths)s::ltree[]) AS m (node_id, old_path)
                    JOIN nodes c ON c.node_id = m.node_id AND c.parent_node_id = %(a)s AND c.path IS NOT NULL
                )
                UPDATE nodes n
                SET path = CASE WHEN n.node_id = back.node_id THEN back.old_path
                                ELSE back.old_path || subpath(n.path, nlevel(back.current_path)) END,
                    parent_node_id = CASE WHEN n.node_id = back.node_id THEN %(b)s ELSE n.parent_node_id END
                FROM back WHERE n.path <@ back.current_path
                RETURNING n.node_id = back.node_id
            """, {"a": a, "b": b, "ids": [child[0] for child in children], "paths": [child[1] for child in children]})
            back["children"] = sum(1 for row in cursor.fetchall() if row[0])
        cursor.execute("UPDATE node_attributes SET node_id = %s WHERE attribute_id = ANY(%s) AND node_id = %s",
                       [b, moves.get("attributes", []), a])
        back["attributes"] = cursor.rowcount
        with _setting(cursor, "kgsite.confidence_writer"):
            cursor.execute(_UNMERGE_LINKS_SQL, {"a": a, "b": b, "src": moves.get("relationships_source", []),
                                                "tgt": moves.get("relationships_target", [])})
            back["relationships"] = cursor.rowcount
        cursor.execute("UPDATE node_resource_links SET node_id = %s WHERE link_id = ANY(%s) AND node_id = %s",
                       [b, moves.get("resource_links", []), a])
        back["resource links"] = cursor.rowcount
        back["references"] = 0
        for column in ("source_node_id", "target_node_id"):
            cursor.execute(f"UPDATE reference_tracking SET {column} = %s WHERE reference_id = ANY(%s) AND "
                           f"{column} = %s", [b, moves.get(f"references_{column.split('_')[0]}", []), a])
            back["references"] += cursor.rowcount
        for table, key, low, high, _extra in _PAIR_TABLES:
            pairs = moves.get(table, [])
            cursor.execute(f"""
                UPDATE {table} x SET {low} = m.old_low, {high} = m.old_high
                FROM unnest(%(ids)s::bigint[], %(lows)s::integer[], %(highs)s::integer[]) AS m (id, old_low, old_high)
                WHERE x.{key} = m.id AND %(a)s IN (x.{low}, x.{high})
            """, {"a": a, "ids": [pair[0] for pair in pairs], "lows": [pair[1] for pair in pairs],
                  "highs": [pair[2] for pair in pairs]})

        restored: dict[str, int] = {}
        not_restored: dict[str, int] = {}
        for table in ("node_attributes", "relationships", "inference_reasons", "node_resource_links",
                      *(spec[0] for spec in _PAIR_TABLES)):
            rows = removed.get(table, [])
            done = _reinsert(cursor, table, rows)
            restored[table.replace("_", " ")] = done
            not_restored[table.replace("_", " ")] = len(rows) - done
        _merge_flag(cursor, False)
        cursor.execute("SELECT inference_enqueue(ARRAY[%s, %s]::integer[])", [a, b])
        NodeMerge.objects.filter(pk=merge_id).update(
            unmerged_at=timezone.now(), unmerged_by=user if getattr(user, "pk", None) else None)
    return UnmergeReport(merge_id=merge_id, survivor_id=a, merged_id=b, merged_name=merge.merged_name,
                         moved_back=back, restored=restored, not_restored=not_restored)
