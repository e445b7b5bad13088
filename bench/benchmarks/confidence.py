"""The confidence machinery's cost on writes: ~100,000 attributes written with the triggers on (ours) and off.

A scratch database migrated like the real one holds 10,500 generated nodes and their ~61,000 relationships (every
index and foreign key in place). Each run empties ``node_attributes`` and writes the ~100,000 attributes of those
nodes (the generator's rows, 5-15 per node) in one transaction, either

* ``confidence.copy_attributes``: one binary COPY (``kgsite.bulk.copy_rows``, as the generator and the importer
  write), which the statement-level triggers see as one statement; or
* ``confidence.insert_attributes``: Django's ``bulk_create(batch_size=1000)``, 100 INSERT statements.

The baseline is the same write with the three attribute triggers disabled (``ALTER TABLE ... DISABLE TRIGGER``),
i.e. no node score kept current. ``ratio`` is baseline time / ours: the target is above 0.5 (under 2× slower).
With the triggers on, each node's score and ``confidence_last_updated`` are recomputed once per statement, and its
relationships' scores are deferred (``confidence_pending_nodes``) because a statement touches more than
``confidence_propagation_limit`` of them: quality checks both.
"""

from __future__ import annotations

from django.db import connections, transaction

from bench import database
from bench.benchmarks.bulk_load import model_instances
from bench.harness import Benchmark, Context, register
from graph.models import NodeAttribute
from graph.services.generator import ATTRIBUTE_COLUMNS, COLUMNS, IdBase, graph_plan_build, table_rows
from kgsite.bulk import copy_rows

ALIAS = "bench_confidence"
NODES = 10_500
TRIGGERS = ("node_attributes_confidence_insert", "node_attributes_confidence_update",
            "node_attributes_confidence_delete")


class AttributeWrites(Benchmark):
    unit = "rows/s"
    repeat = 3
    warmup = 1
    baseline = "the same write with the confidence triggers disabled"

    def __init__(self, way: str, description: str):
        self.way = way
        self.name = f"confidence.{way}_attributes"
        self.description = description

    def setup(self, context: Context) -> None:
        self.server = context.extra["server_url"]
        self.dbname = f"{context.database}_confidence"
        database.scratch_database_attach(self.server, self.dbname, ALIAS)
        plan = graph_plan_build(nodes=NODES, seed=1)
        ids = IdBase()
        self.attributes = [list(batch) for batch in table_rows(plan, ids, "node_attributes")]
        self.rows = sum(len(batch) for batch in self.attributes)
        with transaction.atomic(using=ALIAS), connections[ALIAS].connection.cursor() as cursor:
            for table in ("nodes", "relationships"):
                copy_rows(cursor, table, COLUMNS[table], table_rows(plan, ids, table))
            cursor.execute("ANALYZE nodes, relationships")
        self.checks: dict[str, tuple] = {}

    def teardown(self) -> None:
        database.scratch_database_detach(self.server, self.dbname, ALIAS)

    def before_each(self, side: str) -> None:
        switch = "ENABLE" if side == "ours" else "DISABLE"
        with transaction.atomic(using=ALIAS), connections[ALIAS].connection.cursor() as cursor:
            cursor.execute("TRUNCATE node_attributes RESTART IDENTITY")
            cursor.execute("TRUNCATE confidence_pending_nodes")
            cursor.execute("SELECT set_config('kgsite.confidence_writer', 'on', true)")
            cursor.execute("UPDATE nodes SET confidence_score = 0.5 WHERE confidence_score <> 0.5")
            for trigger in TRIGGERS:
                cursor.execute(f"ALTER TABLE node_attributes {switch} TRIGGER {trigger}")
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("VACUUM ANALYZE nodes, node_attributes")

    def after_each(self, side: str, final: bool) -> None:
        if not final:
            return
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("SELECT count(*) FILTER (WHERE confidence_score <> 0.5), "
                           "(SELECT count(*) FROM confidence_pending_nodes) FROM nodes")
            self.checks[side] = cursor.fetchone()

    def ours(self) -> None:
        self._write()

    def run_baseline(self) -> None:
        self._write()

    def _write(self) -> None:
        if self.way == "copy":
            with transaction.atomic(using=ALIAS), connections[ALIAS].connection.cursor() as cursor:
                copy_rows(cursor, "node_attributes", ATTRIBUTE_COLUMNS, self.attributes)
        else:
            instances = model_instances(NodeAttribute, ATTRIBUTE_COLUMNS, self.attributes, with_pk=False)
            with transaction.atomic(using=ALIAS):
                NodeAttribute.objects.using(ALIAS).bulk_create(instances, batch_size=1000)

    def quality(self) -> str:
        ours, baseline = self.checks.get("ours"), self.checks.get("baseline")
        if ours is None or baseline is None:
            return "not checked"
        return (f"triggers on: {ours[0]:,} of {NODES:,} node scores recomputed, {ours[1]:,} nodes' relationships "
                f"deferred; off: {baseline[0]:,} recomputed")


register(AttributeWrites("copy", f"binary COPY of the ~100,000 attributes of {NODES:,} nodes, one statement, "
                                 "confidence triggers on vs off"))
register(AttributeWrites("insert", "bulk_create(batch_size=1000) of the same ~100,000 attributes, 100 statements, "
                                   "confidence triggers on vs off"))
