"""Duplicates, merges and history (issue 17, docs/duplicates.md, docs/history.md).

* ``duplicates.find``: ``find_duplicates`` over the whole graph with ``PLANTED`` planted duplicates
  (``bench.planted``), timed once per run. Quality: the recall of the planted pairs in the top ``2 × PLANTED``
  candidates, and the precision there. No baseline: an all-pairs comparison of 100,000 nodes (5·10⁹ pairs) is what
  the bounded neighbour search avoids, not something to time.
* ``history.copy``: a COPY of 100,000 attribute rows into ``node_attributes`` (new values for existing nodes), in a
  transaction rolled back afterwards, with the history triggers against the same COPY with every history trigger
  of the six tables disabled (``ALTER TABLE ... DISABLE TRIGGER``, inside the transaction). Target: under 1.5×.
* ``history.admin_edit``: one node's admin change form posted (a rename) through Django's test client with the
  whole middleware stack, with history against without it (the triggers disabled, and no history context).
  Target: under 1.5×.
* ``merge.hub`` and ``unmerge.hub``: merging the node with the most relationships into another node (of its type
  when one lies outside its subtree: the generated hubs are the roots of their type's tree),
  and undoing it (``node_merge`` / ``node_unmerge``); the other step is done untimed between runs. Target: under
  2 s each. Quality: what moved, and whether unmerge gave back exactly the hub's rows (a checksum of its edges,
  attributes and children before and after).

``python -m bench --scale 100k --only merge`` (merge and unmerge), ``--only history`` and ``--only duplicates``
run them.
"""

from __future__ import annotations

import io
import time

from django.db import connection, transaction
from django.test.utils import override_settings

from bench.benchmarks.admin_changelist import AdminPageBenchmark
from bench.harness import Benchmark, Context, Sample, register
from bench.planted import duplicates_plant
from graph.models import DuplicateCandidate
from graph.services.duplicates import duplicates_find
from graph.services.merges import node_merge, node_unmerge

PLANTED = 200
COPY_ROWS = 100_000
HISTORY_TABLES = ("nodes", "node_attributes", "relationships", "external_resources", "node_resource_links",
                  "reference_tracking")


def _sql(statement: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def history_triggers() -> list[tuple[str, str]]:
    return _sql("""
        SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relname = ANY(%s) AND t.tgname LIKE 'pgtrigger_%%'
    """, [list(HISTORY_TABLES)])


def history_triggers_set(enabled: bool) -> None:
    for table, trigger in history_triggers():
        _sql(f'ALTER TABLE {table} {"ENABLE" if enabled else "DISABLE"} TRIGGER "{trigger}"')


class FindDuplicates(Benchmark):
    unit = "ms"
    repeat = 1
    warmup = 0
    baseline = "none (all pairs is what the neighbour search avoids)"

    def __init__(self, name: str, description: str):
        self.name, self.description = name, description

    def setup(self, context: Context) -> None:
        _sql("DELETE FROM nodes WHERE source = 'planted'")
        self.planted = {tuple(sorted(pair)) for pair in duplicates_plant(count=PLANTED, seed=17)}
        _sql("ANALYZE nodes")
        self.report = None

    def teardown(self) -> None:
        _sql("DELETE FROM nodes WHERE source = 'planted'")
        _sql("DELETE FROM duplicate_candidates")

    def baseline_runs(self, context: Context) -> bool:
        return False

    def ours(self) -> None:
        self.report = duplicates_find()

    def quality(self) -> str:
        ranked = list(DuplicateCandidate.objects.order_by("-score", "candidate_id")
                      .values_list("node_low_id", "node_high_id")[:2 * PLANTED])
        top, first = set(ranked), set(ranked[:PLANTED])
        found = self.planted & top
        return (f"{self.report.scanned:,} nodes compared, {self.report.stored:,} candidate pairs stored in "
                f"{self.report.seconds:.1f} s; planted {len(self.planted)}: recall {len(found) / len(self.planted):.2f}"
                f" in the top {len(top)}, precision {len(self.planted & first) / max(1, len(first)):.2f} in the top "
                f"{len(first)}")


class HistoryCopy(Benchmark):
    unit = "ms"
    repeat = 5
    warmup = 1
    baseline = "the same COPY with the history triggers disabled"

    def __init__(self, name: str, description: str):
        self.name, self.description = name, description

    def setup(self, context: Context) -> None:
        nodes = [row[0] for row in _sql("SELECT node_id FROM nodes ORDER BY node_id LIMIT %s", [COPY_ROWS])]
        buffer = io.StringIO()
        for i in range(COPY_ROWS):
            buffer.write(f"{nodes[i % len(nodes)]}\tbench_history\tkey_{i % 50}\tvalue {i}\t0.8\t0.7\t0.9\n")
        self.data = buffer.getvalue()
        self.events: dict[str, int] = {}

    def _copy(self, side: str) -> Sample:
        with transaction.atomic():
            if side == "baseline":
                history_triggers_set(False)
            connection.ensure_connection()
            started = time.perf_counter()
            with connection.connection.cursor() as cursor:
                with cursor.copy("COPY node_attributes (node_id, attribute_type, attribute_key, attribute_value, "
                                 "weight, confidence, source_reliability) FROM STDIN") as copy:
                    copy.write(self.data)
            seconds = time.perf_counter() - started
            self.events[side] = _sql("SELECT count(*) FROM history_node_attributes "
                                     "WHERE attribute_type = 'bench_history'")[0][0]
            transaction.set_rollback(True)
        return Sample(seconds=seconds)

    def ours(self) -> Sample:
        return self._copy("ours")

    def run_baseline(self) -> Sample:
        return self._copy("baseline")

    def quality(self) -> str:
        return (f"{COPY_ROWS:,} rows; history events written: {self.events.get('ours', 0):,} with the triggers, "
                f"{self.events.get('baseline', 0):,} without (target: ours under 1.5× the baseline)")


class HistoryAdminEdit(AdminPageBenchmark):
    unit = "ms"
    repeat = 21
    warmup = 3
    baseline = "the same edit without history (triggers disabled, no history context)"

    def __init__(self, name: str, description: str):
        self.name, self.description = name, description
        self.count = 0

    def setup(self, context: Context) -> None:
        super().setup(context)
        _sql("DELETE FROM nodes WHERE source = 'bench_edit'")
        self.node_id = _sql("INSERT INTO nodes (name, node_type, source) VALUES ('Bench edit', 'concept', "
                            "'bench_edit') RETURNING node_id")[0][0]
        self.url = f"/admin/graph/node/{self.node_id}/change/"
        self.middleware = None

    def teardown(self) -> None:
        history_triggers_set(True)
        _sql("DELETE FROM nodes WHERE source = 'bench_edit'")
        super().teardown()

    def before_each(self, side: str) -> None:
        history_triggers_set(side == "ours")
        if side == "baseline" and self.middleware is None:
            from django.conf import settings

            self.middleware = override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if "pghistory" not in m])
            self.middleware.enable()
        if side == "ours" and self.middleware is not None:
            self.middleware.disable()
            self.middleware = None

    def _post(self) -> None:
        self.count += 1
        data = {"name": f"Bench edit {self.count}", "node_type": "concept", "path": "", "parent_node": "",
                "source": "bench_edit", "metadata": "{}", "embedding": ""}
        for prefix in ("attributes", "resource_links", "references_made"):
            data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0",
                         f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
        response = self.client.post(self.url, data)
        if response.status_code != 302:
            raise AssertionError(f"POST {self.url} answered {response.status_code}")

    def ours(self) -> None:
        self._post()

    def run_baseline(self) -> None:
        self._post()

    def quality(self) -> str:
        events = _sql("SELECT count(*) FROM history_nodes WHERE pgh_obj_id = %s", [self.node_id])[0][0]
        return f"{self.count} edits posted; {events} history events of the node (ours only)"


def _hub_fingerprint(node_id: int) -> tuple:
    return tuple(_sql("""
        SELECT (SELECT md5(string_agg(relationship_id || ':' || source_node_id || ':' || target_node_id || ':'
                                      || relationship_type, ',' ORDER BY relationship_id))
                FROM relationships WHERE source_node_id = %(n)s OR target_node_id = %(n)s),
               (SELECT md5(string_agg(attribute_id || ':' || attribute_value, ',' ORDER BY attribute_id))
                FROM node_attributes WHERE node_id = %(n)s),
               (SELECT md5(string_agg(node_id || ':' || path::text, ',' ORDER BY node_id))
                FROM nodes WHERE parent_node_id = %(n)s)
    """, {"n": node_id})[0])


class HubMerge(Benchmark):
    unit = "ms"
    repeat = 5
    warmup = 1
    baseline = "none"

    def __init__(self, name: str, description: str, *, step: str):
        self.name, self.description, self.step = name, description, step

    def setup(self, context: Context) -> None:
        self.hub, self.degree = _sql("""
            SELECT n, count(*) FROM (SELECT source_node_id AS n FROM relationships
                                     UNION ALL SELECT target_node_id FROM relationships) e
            GROUP BY n ORDER BY count(*) DESC, n LIMIT 1""")[0]
        self.survivor = _sql("""
            SELECT node_id FROM nodes WHERE node_id <> %s AND path IS NOT NULL
              AND NOT (path <@ (SELECT path FROM nodes WHERE node_id = %s))
            ORDER BY node_type = (SELECT node_type FROM nodes WHERE node_id = %s) DESC, node_id LIMIT 1""",
                             [self.hub, self.hub, self.hub])[0][0]
        self.before = _hub_fingerprint(self.hub)
        self.merge_id = None
        self.report = None

    def baseline_runs(self, context: Context) -> bool:
        return False

    def _merge(self) -> None:
        self.report = node_merge(survivor_id=self.survivor, merged_id=self.hub)
        self.merge_id = self.report.merge_id

    def _unmerge(self) -> None:
        node_unmerge(merge_id=self.merge_id)
        self.merge_id = None

    def before_each(self, side: str) -> None:
        if self.step == "unmerge" and self.merge_id is None:
            self._merge()

    def after_each(self, side: str, final: bool) -> None:
        if self.step == "merge" and self.merge_id is not None:
            self._unmerge()

    def teardown(self) -> None:
        if self.merge_id is not None:
            self._unmerge()

    def ours(self) -> None:
        self._merge() if self.step == "merge" else self._unmerge()

    def quality(self) -> str:
        same = _hub_fingerprint(self.hub) == self.before
        moved = self.report.moved if self.report else {}
        return (f"hub node {self.hub} ({self.degree:,} relationships) into node {self.survivor}; moved "
                f"{', '.join(f'{v:,} {k}' for k, v in moved.items())}; after unmerge the hub's rows are "
                f"{'exactly as before' if same else 'DIFFERENT'} (target: under 2 s)")


register(FindDuplicates("duplicates.find", f"find_duplicates over the whole graph with {PLANTED} planted "
                                           "duplicates (ms)"))
register(HistoryCopy("history.copy", f"COPY of {COPY_ROWS:,} attribute rows, with history against without (ms)"))
register(HistoryAdminEdit("history.admin_edit", "one admin edit of a node, with history against without (ms)"))
register(HubMerge("merge.hub", "merging the node with the most relationships into another (ms)", step="merge"))
register(HubMerge("unmerge.hub", "undoing that merge (ms)", step="unmerge"))
