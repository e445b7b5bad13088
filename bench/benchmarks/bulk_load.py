"""Bulk load: the generator's binary COPY path against Django's ``bulk_create``, same rows, same tables.

10,000 generated nodes (768-d embeddings, ltree paths, metadata) and then their ~95,000 attributes are loaded
into the empty ``nodes`` and ``node_attributes`` tables of a scratch database migrated like the real one (every
index and foreign key in place, as when loading into a live site), one transaction per run. Both sides start from
the same rows made beforehand (``graph.services.generator.table_rows``), so generating them is not counted;
turning them into model instances is part of the baseline, as it is part of using ``bulk_create``. For the
attributes benchmark the nodes are loaded, untimed, before each run. After the last run of each side a checksum
of the loaded rows is taken: quality says whether both sides loaded identical data.

The COPY path is ``kgsite.bulk.copy_rows``. The generator itself goes further (it drops the secondary indexes and
foreign keys for the load and rebuilds them); its own rate is reported with the graph in the results header.
"""

from __future__ import annotations

import datetime

from django.db import connections, transaction

from bench import database
from bench.harness import Benchmark, Context, register
from graph.models import Node, NodeAttribute
from graph.services.generator import ATTRIBUTE_COLUMNS, NODE_COLUMNS, IdBase, graph_plan_build, table_rows
from kgsite.bulk import copy_rows

ALIAS = "bench_scratch"
NODES = 10_000
BATCH_SIZE = 1000
_MODELS = {"nodes": (Node, NODE_COLUMNS), "node_attributes": (NodeAttribute, ATTRIBUTE_COLUMNS)}
_TIMESTAMPS = {"confidence_last_updated", "created_at", "updated_at", "last_verified"}
_CHECKSUMS = {  # table: the columns compared, key first; not updated_at (Django's auto_now sets it)
    "nodes": "node_id, name, node_type, path, parent_node_id, md5(embedding::text), metadata, confidence_score, "
             "confidence_last_updated, created_at, source",
    "node_attributes": "attribute_id, node_id, attribute_type, attribute_key, md5(attribute_value), weight, "
                       "confidence, source_reliability, last_verified, created_at",
}


def model_instances(model, columns: tuple[str, ...], batches, *, with_pk: bool):
    """Model instances from COPY rows: naive UTC timestamps made aware, as Django expects with USE_TZ.

    Without ``with_pk`` the database numbers the rows (the sequence restarts at 1 before each run, so the ids are
    the same as ours). Explicit ids would also fail: for models whose fields Django can UNNEST, bulk_create casts
    each column to ``<db_type>[]``, and our SerialField's db_type is ``serial`` ("type serial[] does not exist").
    """
    aware = [i for i, column in enumerate(columns) if column in _TIMESTAMPS]
    first = 0 if with_pk else 1
    for batch in batches:
        for row in batch:
            values = list(row)
            for i in aware:
                if values[i] is not None:
                    values[i] = values[i].replace(tzinfo=datetime.UTC)
            yield model(**dict(zip(columns[first:], values[first:])))


class BulkLoad(Benchmark):
    unit = "rows/s"
    repeat = 3
    warmup = 1

    def __init__(self, table: str, description: str):
        self.table = table
        self.name = f"bulk_load.{table}"
        self.description = description
        self.baseline = f"{_MODELS[table][0].__name__}.objects.bulk_create(batch_size={BATCH_SIZE})"

    def setup(self, context: Context) -> None:
        self.server = context.extra["server_url"]
        self.dbname = f"{context.database}_scratch"
        database.scratch_database_attach(self.server, self.dbname, ALIAS)
        plan = graph_plan_build(nodes=NODES, seed=1)
        self.batches = {table: [list(batch) for batch in table_rows(plan, IdBase(), table)] for table in _MODELS}
        self.rows = sum(len(batch) for batch in self.batches[self.table])
        self.checksums: dict[str, tuple] = {}

    def teardown(self) -> None:
        database.scratch_database_detach(self.server, self.dbname, ALIAS)

    def before_each(self, side: str) -> None:
        with transaction.atomic(using=ALIAS), connections[ALIAS].connection.cursor() as cursor:
            cursor.execute("TRUNCATE nodes, node_attributes RESTART IDENTITY CASCADE")
            if self.table != "nodes":
                copy_rows(cursor, "nodes", NODE_COLUMNS, self.batches["nodes"])

    def after_each(self, side: str, final: bool) -> None:
        if not final:
            return
        columns = _CHECKSUMS[self.table]
        with connections[ALIAS].cursor() as cursor:
            cursor.execute(f"SELECT count(*), md5(string_agg(md5(row({columns})::text), '' "
                           f"ORDER BY {columns.split(',')[0]})) FROM {self.table}")
            self.checksums[side] = cursor.fetchone()

    def ours(self) -> None:
        with transaction.atomic(using=ALIAS), connections[ALIAS].connection.cursor() as cursor:
            copy_rows(cursor, self.table, _MODELS[self.table][1], self.batches[self.table])

    def run_baseline(self) -> None:
        model, columns = _MODELS[self.table]
        instances = model_instances(model, columns, self.batches[self.table], with_pk=self.table == "nodes")
        with transaction.atomic(using=ALIAS):
            model.objects.using(ALIAS).bulk_create(instances, batch_size=BATCH_SIZE)

    def quality(self) -> str:
        ours, baseline = self.checksums.get("ours"), self.checksums.get("baseline")
        if ours is None or baseline is None:
            return "not compared"
        return "identical rows" if ours == baseline else f"rows differ: {ours} vs {baseline}"


register(BulkLoad("nodes", f"load {NODES:,} nodes (768-d embeddings, paths, metadata) into an empty, fully indexed "
                           "table, one transaction"))
register(BulkLoad("node_attributes", f"load the ~{NODES * 95 // 10:,} attributes of those nodes (5-15 each, some "
                                     "over 3 KB) into an empty, fully indexed table, one transaction"))
