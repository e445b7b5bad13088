"""Relationship inference (issue 10): a full pass of the queue worker over every node, against a straightforward
per-node Django ORM implementation of the same rule (graph/services/inference.py).

* **ours**: every node queued (``inference_enqueue``), then ``WORKERS`` processes of ``manage.py run_inference -v 2``
  (the default mode: drain the queue, then exit) run in parallel against the bench database; the figure is the
  wall-clock time from starting them to both exiting, subprocess start-up included. Rows: the nodes completed.
* **baseline**: ``orm_node_infer`` below, one node at a time in this process: its attributes, the carriers of each
  value (``NodeAttribute.objects.matching``, at most ``inference_max_value_nodes`` + 1 read), the pair scores in
  Python with the rule's own functions, ``update_or_create`` per pair that holds, a delete of its links that no
  longer hold. It runs on ``SAMPLE_NODES`` nodes (fixed seed) inside a transaction that is rolled back, once
  untimed in setup (it reads heap pages that our index-only scans never touch), then timed; its time is scaled to
  all nodes (``Sample``), so the table's rate is its measured nodes per second.

``inference.full_pass`` starts each side from no inferred links (the first pass: inserts); ``inference.repass`` is
the steady state, a pass over links that a pass (untimed, in setup) has just made (updates). Quality: nodes per
minute, the writes, the batch times the workers print, and "same rule": our SQL (``relationships_infer``) run on the
sample nodes in a rolled-back transaction produces the same pairs, shared counts and scores as the baseline.

``inference.skewed_pass``: ours is the pass after three values were added, each on a random 30% of the nodes
(``classification.skew_a = x`` ...); the baseline is the same pass without them. Both from no inferred links. The
target is on batches: none slower than twice the median. The values are inserted and deleted with the table's user
triggers disabled (no node score rewritten, nothing queued: every node is queued before each pass anyway).

Every benchmark starts and ends with an empty queue and without the links inference made (the generated graph
has none of its type); the tables are vacuumed before each pass.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from bench import database
from bench.harness import Benchmark, Context, Sample, register
from graph.models import NodeAttribute, Relationship
from graph.services import inference
from graph.services.inference import InferenceParameters, relationships_infer

WORKERS = 2  # the machine's cores
SAMPLE_NODES = 600
SEED = 42
SKEW_SHARE = 0.3
SKEW = (("skew_a", "x"), ("skew_b", "y"), ("skew_c", "z"))  # classification.<key> = <value>
_BATCH_LINE = re.compile(r"^batch \w+: (\d+)/(\d+) nodes in ([\d.]+) s", re.MULTILINE)
_SUMMARY_LINE = re.compile(r"^Worker \S+: ([\d,]+) nodes in [\d,]+ batches, ([\d.]+) s .*relationships ([\d,]+) "
                           r"created, ([\d,]+) updated, ([\d,]+) removed", re.MULTILINE)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _sql(statement: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def links_clear(relationship_type: str) -> None:
    """Delete the links inference made (auto-managed, of its type): the state before any pass."""
    _sql("DELETE FROM relationships WHERE relationship_type = %s AND auto_managed", [relationship_type])


def queue_all() -> int:
    """An empty queue, then every node queued (as ``queue_inference --all`` does); vacuumed for steady plans."""
    _sql("TRUNCATE relationship_inference_queue")
    queued = _sql("SELECT inference_enqueue(ARRAY(SELECT node_id FROM nodes), 5)")[0][0]
    _sql("VACUUM (ANALYZE) node_attributes, relationships, relationship_inference_queue")
    return queued


@dataclass
class PassRecord:
    seconds: float
    nodes: int
    batches: list[float] = field(default_factory=list)
    worker_rates: list[float] = field(default_factory=list)  # nodes/min, each worker's own
    created: int = 0
    updated: int = 0
    removed: int = 0

    def batch_text(self) -> str:
        median, longest = statistics.median(self.batches), max(self.batches)
        p99 = statistics.quantiles(self.batches, n=100)[-1] if len(self.batches) > 1 else longest
        return (f"{len(self.batches):,} batches: median {median:.2f} s, 99th percentile {p99:.2f} s, max "
                f"{longest:.2f} s ({longest / median:.1f}× the median)")


def worker_pass(url: str, nodes: int) -> PassRecord:
    """Run ``WORKERS`` ``run_inference -v 2`` processes in parallel until the queue is drained."""
    command = [sys.executable, str(database.BASE_DIR / "manage.py"), "run_inference", "-v", "2"]
    outputs = [tempfile.TemporaryFile(mode="w+") for _ in range(WORKERS)]  # files: a full pipe would stall a worker
    started = time.perf_counter()
    processes = [subprocess.Popen(command, env={**os.environ, "DATABASE_URL": url}, cwd=database.BASE_DIR,
                                  stdout=output, stderr=subprocess.STDOUT, text=True) for output in outputs]
    codes = [process.wait() for process in processes]
    record = PassRecord(seconds=time.perf_counter() - started, nodes=0)
    texts = []
    for output in outputs:
        output.seek(0)
        texts.append(output.read())
        output.close()
    if any(codes):
        raise RuntimeError(f"run_inference exited with {codes}:\n" + "\n".join(text[-2000:] for text in texts))
    for text in texts:
        record.batches += [float(seconds) for _, _, seconds in _BATCH_LINE.findall(text)]
        for completed, seconds, created, updated, removed in _SUMMARY_LINE.findall(text):
            record.nodes += _number(completed)
            record.worker_rates.append(_number(completed) / float(seconds) * 60 if float(seconds) else 0.0)
            record.created += _number(created)
            record.updated += _number(updated)
            record.removed += _number(removed)
    statuses = dict(_sql("SELECT status, count(*) FROM relationship_inference_queue GROUP BY status"))
    if record.nodes != nodes or statuses != {"completed": nodes}:
        raise RuntimeError(f"the pass completed {record.nodes:,} of {nodes:,} nodes; queue: {statuses}")
    return record


# --- The baseline: the rule, one node at a time, through the ORM ---------------------------------------------------

def orm_node_infer(node_id: int, parameters: InferenceParameters, nodes: int) -> dict[tuple[int, int], tuple]:
    """Settle ``node_id``'s inferred links the straightforward way; returns {(source, target): (shared, score)}."""
    cap, alpha, shown = parameters.max_value_nodes, parameters.rarity_weight, inference.VALUE_SHOWN
    shared = defaultdict(list)  # partner -> [(contribution, attribute, carriers, my evidence, partner's evidence)]
    too_common = set()
    for attribute in NodeAttribute.objects.filter(node_id=node_id):
        mine = inference.attribute_evidence(weight=attribute.weight, confidence=attribute.confidence,
                                            source_reliability=attribute.source_reliability)
        carriers = list(NodeAttribute.objects.matching(
            attribute_type=attribute.attribute_type, attribute_key=attribute.attribute_key,
            value=attribute.attribute_value).values_list("node_id", "weight", "confidence",
                                                         "source_reliability")[:cap + 1])
        if len(carriers) > cap:
            too_common.add((attribute.attribute_type, attribute.attribute_key, attribute.attribute_value))
            continue
        for partner, weight, confidence, reliability in carriers:
            if partner != node_id:
                theirs = inference.attribute_evidence(weight=weight, confidence=confidence,
                                                      source_reliability=reliability)
                contribution = inference.shared_value_contribution(
                    source_evidence=mine, target_evidence=theirs, carriers=len(carriers), nodes=nodes,
                    rarity_weight=alpha)
                shared[partner].append((contribution, attribute, len(carriers), mine, theirs))
    kept = {}
    for partner, values in shared.items():
        score = inference.pair_score([value[0] for value in values])
        if len(values) >= parameters.min_shared and score >= parameters.threshold:
            kept[partner] = (score, values)
    links = Relationship.objects.filter(relationship_type=parameters.relationship_type)
    partners = list(kept)
    manual = links.exclude(auto_managed=True).filter(Q(source_node_id=node_id, target_node_id__in=partners)
                                                     | Q(target_node_id=node_id, source_node_id__in=partners))
    for source, target in manual.values_list("source_node_id", "target_node_id"):
        kept.pop(target if source == node_id else source, None)  # a manual link of the type: never touched
    now, result = timezone.now(), {}
    for partner, (score, values) in kept.items():
        source, target = min(node_id, partner), max(node_id, partner)
        reasons = []
        for contribution, attribute, carriers, mine, theirs in sorted(
                values, key=lambda v: (-v[0], v[1].attribute_type, v[1].attribute_key)):
            at_source, at_target = (mine, theirs) if source == node_id else (theirs, mine)
            reasons.append({"type": attribute.attribute_type, "key": attribute.attribute_key,
                            "value": attribute.attribute_value[:shown], "carriers": carriers,
                            "source_evidence": round(at_source, 4), "target_evidence": round(at_target, 4),
                            "contribution": round(contribution, 4)})
        partner_values = set(NodeAttribute.objects.filter(node_id=partner).values_list(
            "attribute_type", "attribute_key", "attribute_value"))
        common = [{"type": t, "key": k, "value": v[:shown]} for t, k, v in sorted(too_common & partner_values)]
        rounded = Decimal(f"{score:.4f}")
        record = {"rule": inference.RULE_VERSION, "score": float(rounded), "at": now.isoformat(), "nodes": nodes,
                  "max_value_nodes": cap, "rarity_weight": alpha, "shared": reasons, "too_common": common}
        Relationship.objects.update_or_create(
            source_node_id=source, target_node_id=target, relationship_type=parameters.relationship_type,
            defaults={"strength": rounded, "stated_confidence": rounded, "inference_confidence": rounded,
                      "bidirectional": True, "source": inference.INFERENCE_SOURCE, "auto_managed": True,
                      "shared_attributes_count": len(values), "last_inference_update": now,
                      "metadata": {"inference": record}})
        result[source, target] = (len(values), score)
    partners = list(kept)
    links.filter(Q(source_node_id=node_id) | Q(target_node_id=node_id), auto_managed=True).exclude(
        source_node_id=node_id, target_node_id__in=partners).exclude(
        target_node_id=node_id, source_node_id__in=partners).delete()  # its links that no longer hold
    return result


def _sample_links(relationship_type: str, sample: list[int]):
    return Relationship.objects.filter(Q(source_node_id__in=sample) | Q(target_node_id__in=sample),
                                       relationship_type=relationship_type, auto_managed=True)


# --- The benchmarks ----------------------------------------------------------------------------------------------

class InferenceBenchmark(Benchmark):
    unit = "rows/s"
    warmup = 0

    def __init__(self, name: str, description: str):
        self.name, self.description = name, description

    def setup(self, context: Context) -> None:
        self.context = context
        self.url = database.database_url(context.extra["server_url"], context.database)
        self.parameters = InferenceParameters.current()
        self.repeat = 3 if context.nodes <= 20_000 else 1  # a pass over 100k nodes takes minutes
        self.passes: dict[str, list[PassRecord]] = {"ours": [], "baseline": []}
        self.rows = _sql("SELECT count(*) FROM nodes")[0][0]
        links_clear(self.parameters.relationship_type)

    def teardown(self) -> None:
        links_clear(self.parameters.relationship_type)
        _sql("TRUNCATE relationship_inference_queue")
        _sql("VACUUM (ANALYZE) node_attributes, relationships, relationship_inference_queue")

    def _pass(self, side: str) -> Sample:
        record = worker_pass(self.url, self.rows)
        self.passes[side].append(record)
        self.context.say(f"  {self.name} {side}: {record.nodes:,} nodes in {record.seconds:.1f} s "
                         f"({record.nodes / record.seconds * 60:,.0f} nodes/min); load average "
                         f"{os.getloadavg()[0]:.1f}")
        return Sample(seconds=record.seconds)


class FullPass(InferenceBenchmark):
    baseline = "per-node Django ORM implementation of the same rule (a sample of nodes, rolled back)"

    def __init__(self, name: str, description: str, first: bool):
        super().__init__(name, description)
        self.first = first  # True: from no inferred links (inserts); False: over the links a pass just made

    def setup(self, context: Context) -> None:
        super().setup(context)
        ids = [row[0] for row in _sql("SELECT node_id FROM nodes ORDER BY node_id")]
        self.sample = sorted(random.Random(SEED).sample(ids, min(SAMPLE_NODES, len(ids))))
        self.orm_pairs: dict[tuple[int, int], tuple] = {}
        self.orm_queries = 0
        if not self.first:
            context.say(f"{self.name}: a first pass (untimed) ...")
            queue_all()
            worker_pass(self.url, self.rows)
        context.say(f"{self.name}: the baseline once, untimed (the heap pages it reads into the cache) ...")
        self.run_baseline()

    def before_each(self, side: str) -> None:
        if side == "ours":
            if self.first:
                links_clear(self.parameters.relationship_type)
            queue_all()

    def ours(self) -> Sample:
        return self._pass("ours")

    def run_baseline(self) -> Sample:
        queries = []
        with transaction.atomic():
            if self.first:
                _sample_links(self.parameters.relationship_type, self.sample).delete()  # untimed: no links yet
            nodes = inference.graph_node_count()
            started = time.perf_counter()
            with connection.execute_wrapper(lambda execute, *args: queries.append(1) or execute(*args)):
                pairs = {}
                for node_id in self.sample:
                    pairs.update(orm_node_infer(node_id, self.parameters, nodes))
            seconds = time.perf_counter() - started
            transaction.set_rollback(True)
        self.orm_pairs, self.orm_queries = pairs, len(queries)
        self.context.say(f"  {self.name} baseline: {len(self.sample):,} nodes in {seconds:.1f} s "
                         f"({len(self.sample) / seconds * 60:,.0f} nodes/min)")
        return Sample(seconds=seconds * self.rows / len(self.sample))

    def _sql_pairs(self) -> dict[tuple[int, int], tuple]:
        """What our SQL makes of the sample nodes, from no links of theirs, in a transaction rolled back."""
        with transaction.atomic():
            links = _sample_links(self.parameters.relationship_type, self.sample)
            links.delete()
            relationships_infer(node_ids=self.sample, parameters=self.parameters)
            pairs = {(s, t): (n, float(c)) for s, t, n, c in links.values_list(
                "source_node_id", "target_node_id", "shared_attributes_count", "inference_confidence")}
            transaction.set_rollback(True)
        return pairs

    def quality(self) -> str:
        record = self.passes["ours"][-1]
        rate = statistics.median(r.nodes / r.seconds * 60 for r in self.passes["ours"])
        ours, theirs = self._sql_pairs(), self.orm_pairs
        same = ours.keys() == theirs.keys() and all(ours[p][0] == theirs[p][0] for p in ours)
        common = ours.keys() & theirs.keys()
        delta = max((abs(ours[p][1] - theirs[p][1]) for p in common), default=0.0)
        rounded = sum(f"{ours[p][1]:.4f}" != f"{theirs[p][1]:.4f}" for p in common)
        verdict = (f"same {len(ours):,} pairs and shared counts" if same else
                   f"DIFFERENT pairs: SQL {len(ours):,}, ORM {len(theirs):,}, {len(ours.keys() ^ theirs.keys()):,} "
                   "in one only")
        return (f"{rate:,.0f} nodes/min with {WORKERS} workers ({statistics.mean(record.worker_rates):,.0f} each); "
                f"relationships {record.created:,} created, {record.updated:,} updated, {record.removed:,} removed; "
                f"{record.batch_text()}; rule on {len(self.sample):,} sample nodes: {verdict}, scores "
                f"{'equal' if not rounded else f'{rounded:,} DIFFERENT'} at the stored 4 decimals (max |Δ| "
                f"{delta:.5f} before rounding); baseline {self.orm_queries / len(self.sample):.1f} queries/node")


class SkewedPass(InferenceBenchmark):
    baseline = "the same pass without the three values on 30% of the nodes"

    def setup(self, context: Context) -> None:
        super().setup(context)
        ids = [row[0] for row in _sql("SELECT node_id FROM nodes ORDER BY node_id")]
        self.carriers = [sorted(random.Random(SEED + i).sample(ids, round(SKEW_SHARE * len(ids))))
                         for i in range(len(SKEW))]
        self._skew(False)

    def teardown(self) -> None:
        self._skew(False)
        super().teardown()

    def _skew(self, present: bool) -> None:
        """Add (or delete) the three common values, with the table's user triggers off (see the docstring)."""
        with transaction.atomic():
            _sql("ALTER TABLE node_attributes DISABLE TRIGGER USER")
            _sql("DELETE FROM node_attributes WHERE attribute_type = 'classification' AND attribute_key = ANY(%s)",
                 [[key for key, _ in SKEW]])
            for (key, value), carriers in zip(SKEW, self.carriers):
                if present:
                    _sql("INSERT INTO node_attributes (node_id, attribute_type, attribute_key, attribute_value, "
                         "weight, confidence, source_reliability) SELECT unnest(%s::integer[]), 'classification', "
                         "%s, %s, 1.0, 0.8, 1.0", [carriers, key, value])
            _sql("ALTER TABLE node_attributes ENABLE TRIGGER USER")

    def before_each(self, side: str) -> None:
        links_clear(self.parameters.relationship_type)
        self._skew(side == "ours")
        queue_all()

    def ours(self) -> Sample:
        return self._pass("ours")

    def run_baseline(self) -> Sample:
        return self._pass("baseline")

    def quality(self) -> str:
        skewed, plain = self.passes["ours"][-1], self.passes["baseline"][-1]
        longest = max(max(r.batches) / statistics.median(r.batches) for r in self.passes["ours"])
        return (f"{len(SKEW)} values on {len(self.carriers[0]):,} nodes each; skewed: {skewed.batch_text()}, "
                f"pass {skewed.seconds:.1f} s; plain: {plain.batch_text()}, pass {plain.seconds:.1f} s; skewed / "
                f"plain pass time {skewed.seconds / plain.seconds:.2f}×; slowest batch of any skewed pass "
                f"{longest:.1f}× its median (target ≤ 2×)")


register(FullPass("inference.full_pass", f"first inference pass over every node, {WORKERS} run_inference workers "
                                         "(nodes/s), from no inferred links", first=True))
register(FullPass("inference.repass", f"inference pass over every node, {WORKERS} run_inference workers (nodes/s), "
                                      "over the links a pass just made (steady state: updates)", first=False))
register(SkewedPass("inference.skewed_pass", f"first inference pass with 3 values each on {SKEW_SHARE:.0%} of the "
                                             f"nodes, {WORKERS} workers (nodes/s)"))
