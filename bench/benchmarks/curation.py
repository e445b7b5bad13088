"""Curation (issue 16, docs/curation.md): what rejections cost inference, and the review queue at 100,000 pending
links.

* ``curation.rejected_pass``: the inference pass over every node (``WORKERS`` ``run_inference`` processes, as
  ``inference.repass``) with 10% of the inferred links rejected, against the same pass without rejections. A first
  pass (untimed, in setup) makes the links; every tenth of them (by id) is the rejected set. Before ours, those links
  are deleted and rejected (``inference_rejections`` rows, as ``review_reject`` writes them); before the baseline the
  rejections go and the links are put back exactly as they were (rows saved in setup), so both passes update the
  same links and ours only skips the rejected ones. Target: ours within 1.2× of the baseline's time. Quality: the
  rejected links present after our pass (must be 0).
* ``curation.review_page``: ``/review/``, the first page of the queue, through Django's test client with the whole
  middleware stack, logged in as the bench superuser, with at least 100,000 pending links (the graph's auto-managed
  ones topped up with synthetic pending links carrying three reasons each, removed in teardown). Baseline: a stock
  ``ModelAdmin`` list of the auto-managed relationships ordered by score, what a curator had before (a full count
  per page view, a sort of every pending link). Target: ours under 100 ms median.

* ``curation.bulk_reject``: rejecting 10,000 pending links at once (``review_reject``: a locking read and one
  writing statement) against the straightforward per-link Django ORM version (for each link: create the
  rejection, create the decision row, delete the link), in one transaction each; the 10,000 synthetic links are
  put back before every run. Quality: both sides leave the same rejections.

``python -m bench --scale 100k --only curation`` runs them (about eight minutes: three inference passes).
"""

from __future__ import annotations

import random
import statistics
import time
import uuid

from django.contrib import admin
from django.db import transaction
from django.urls import include, path

from bench.benchmarks.admin_changelist import PageViewBenchmark
from bench.benchmarks.inference import WORKERS, InferenceBenchmark, _sql, queue_all, worker_pass
from bench.harness import Benchmark, Context, Sample, register
from graph.models import InferenceRejection, Relationship, ReviewDecision
from graph.selectors.review import PER_PAGE
from graph.services.curation import review_reject

REJECTED_SHARE = 10  # every tenth inferred link
PENDING_TARGET = 100_000
SYNTHETIC_TYPE = "bench_review"
SEED = 42

stock_site = admin.AdminSite(name="stock_review_admin")


class StockPendingAdmin(admin.ModelAdmin):
    list_display = ("relationship_id", "source_node", "relationship_type", "target_node", "inference_confidence",
                    "shared_attributes_count")
    list_filter = ("auto_managed", "relationship_type")
    ordering = ("-inference_confidence",)
    list_per_page = PER_PAGE


stock_site.register(Relationship, StockPendingAdmin)
urlpatterns = [path("stock-admin/", stock_site.urls), path("", include("kgsite.urls"))]


class RejectedPass(InferenceBenchmark):
    baseline = "the same pass without rejections (the same links updated)"

    def setup(self, context: Context) -> None:
        super().setup(context)
        context.say(f"{self.name}: a first pass (untimed) makes the links ...")
        queue_all()
        worker_pass(self.url, self.rows)
        kind = self.parameters.relationship_type
        ids = [row[0] for row in _sql("SELECT relationship_id FROM relationships WHERE relationship_type = %s "
                                      "AND auto_managed ORDER BY relationship_id", [kind])]
        self.links = len(ids)
        self.rejected = ids[::REJECTED_SHARE]
        _sql("DROP TABLE IF EXISTS bench_saved_links, bench_saved_reasons")
        _sql("CREATE TABLE bench_saved_links AS SELECT * FROM relationships WHERE relationship_id = ANY(%s)",
             [self.rejected])
        _sql("CREATE TABLE bench_saved_reasons AS SELECT * FROM inference_reasons WHERE relationship_id = ANY(%s)",
             [self.rejected])
        self.present_after: list[int] = []

    def teardown(self) -> None:
        _sql("DELETE FROM inference_rejections")
        _sql("DROP TABLE IF EXISTS bench_saved_links, bench_saved_reasons")
        super().teardown()

    def before_each(self, side: str) -> None:
        if side == "ours":  # rejected, as review_reject leaves them: links gone, pairs recorded
            _sql("DELETE FROM relationships WHERE relationship_id = ANY(%s)", [self.rejected])
            _sql("INSERT INTO inference_rejections (source_node_id, target_node_id, relationship_type, reason, "
                 "score, rejected_at) SELECT source_node_id, target_node_id, relationship_type, 'bench', "
                 "inference_confidence, now() FROM bench_saved_links ON CONFLICT DO NOTHING")
        else:  # no rejections, the links back as they were
            _sql("DELETE FROM inference_rejections")
            _sql("INSERT INTO relationships SELECT * FROM bench_saved_links ON CONFLICT DO NOTHING")
            _sql("INSERT INTO inference_reasons SELECT * FROM bench_saved_reasons s WHERE NOT EXISTS "
                 "(SELECT 1 FROM inference_reasons r WHERE r.reason_id = s.reason_id)")
        queue_all()

    def ours(self) -> Sample:
        sample = self._pass("ours")
        self.present_after.append(_sql(
            "SELECT count(*) FROM bench_saved_links s JOIN relationships r ON r.source_node_id = s.source_node_id "
            "AND r.target_node_id = s.target_node_id AND r.relationship_type = s.relationship_type")[0][0])
        return sample

    def run_baseline(self) -> Sample:
        return self._pass("baseline")

    def quality(self) -> str:
        ours = statistics.median(r.seconds for r in self.passes["ours"])
        theirs = statistics.median(r.seconds for r in self.passes["baseline"])
        record = self.passes["ours"][-1]
        return (f"{len(self.rejected):,} of {self.links:,} inferred links rejected; pass with rejections "
                f"{ours:.1f} s, without {theirs:.1f} s: {ours / theirs:.2f}× (target ≤ 1.2×); rejected links present "
                f"after the pass: {max(self.present_after, default=0)} (must be 0); relationships "
                f"{record.created:,} created, {record.updated:,} updated, {record.removed:,} removed; "
                f"{record.batch_text()}")


class ReviewPage(PageViewBenchmark):
    unit = "ms"
    repeat = 21
    warmup = 3
    baseline = "stock ModelAdmin list of the auto-managed links by score"
    urlconf = __name__

    def __init__(self, name: str, description: str):
        self.name, self.description = name, description
        self.urls = {"ours": "/review/",
                     "baseline": "/stock-admin/graph/relationship/?auto_managed__exact=1"}
        self.timings: list[float] = []

    def setup(self, context: Context) -> None:
        super().setup(context)
        pending = _sql("SELECT count(*) FROM relationships WHERE auto_managed")[0][0]
        self.added = 0
        missing = PENDING_TARGET - pending
        if missing > 0:
            node_ids = [row[0] for row in _sql("SELECT node_id FROM nodes ORDER BY node_id")]
            rng = random.Random(SEED)
            pairs = set()
            while len(pairs) < missing:
                a, b = rng.sample(node_ids, 2)
                pairs.add((min(a, b), max(a, b)))
            sources, targets = zip(*sorted(pairs), strict=True)
            ids = [row[0] for row in _sql(
                "INSERT INTO relationships (source_node_id, target_node_id, relationship_type, strength, "
                "stated_confidence, bidirectional, source, auto_managed, shared_attributes_count, "
                "inference_confidence, review_impact, last_inference_update, metadata) "
                "SELECT s, t, %s, c, c, true, 'inference', true, 3, c, c * (1 + (random() * 40)::int), now(), "
                "jsonb_build_object('inference', jsonb_build_object('rule', 1, 'score', c, 'at', now(), "
                "'nodes', 100000, 'max_value_nodes', 500, 'rarity_weight', 1, 'too_common', '[]'::jsonb)) "
                "FROM (SELECT s, t, round((0.5 + random() * 0.5)::numeric, 4) AS c "
                "      FROM unnest(%s::int[], %s::int[]) AS p(s, t)) AS x "
                "ON CONFLICT DO NOTHING RETURNING relationship_id",
                [SYNTHETIC_TYPE, list(sources), list(targets)])]
            _sql("INSERT INTO inference_reasons (relationship_id, source_attribute_id, target_attribute_id, "
                 "attribute_type, attribute_key, attribute_value, carriers, source_evidence, target_evidence, "
                 "contribution, rule_version, gone_why) "
                 "SELECT id, 1, 2, 'classification', 'k' || g, 'value ' || (id %% 97), 2 + id %% 50, 0.5, 0.5, "
                 "0.3 / g, 1, '' FROM unnest(%s::int[]) AS id, generate_series(1, 3) AS g", [ids])
            self.added = len(ids)
            _sql("VACUUM (ANALYZE) relationships, inference_reasons")
        self.pending = _sql("SELECT count(*) FROM relationships WHERE auto_managed")[0][0]
        context.say(f"{self.name}: {self.pending:,} pending links ({self.added:,} synthetic)")

    def teardown(self) -> None:
        _sql("DELETE FROM relationships WHERE relationship_type = %s", [SYNTHETIC_TYPE])
        _sql("VACUUM (ANALYZE) relationships, inference_reasons")
        super().teardown()

    def ours(self) -> None:
        started = time.perf_counter()
        self._view("ours")
        self.timings.append(time.perf_counter() - started)

    def quality(self) -> str:
        timed = self.timings[self.warmup:] or self.timings
        median = statistics.median(timed) * 1000
        p95 = sorted(timed)[min(len(timed) - 1, round(0.95 * (len(timed) - 1)))] * 1000
        rows = self._view("ours").count('class="card review-item"')
        return (f"{self.pending:,} pending links; median {median:.1f} ms (target < 100 ms), 95th percentile "
                f"{p95:.1f} ms; {rows} links listed")


BULK = 10_000
BULK_TYPE = "bench_bulk_review"


class BulkReject(Benchmark):
    unit = "ms"
    repeat = 3
    warmup = 1
    baseline = "per-link Django ORM: create the rejection and the decision, delete the link"

    def __init__(self, name: str, description: str):
        self.name, self.description = name, description
        self.rejected: dict[str, set] = {}

    def setup(self, context: Context) -> None:
        from django.contrib.auth import get_user_model

        node_ids = [row[0] for row in _sql("SELECT node_id FROM nodes ORDER BY node_id LIMIT %s", [2 * BULK])]
        self.pairs = list(zip(node_ids[0::2], node_ids[1::2], strict=True))
        self.user = get_user_model().objects.filter(is_superuser=True).first()

    def before_each(self, side: str) -> None:
        _sql("DELETE FROM inference_rejections WHERE relationship_type = %s", [BULK_TYPE])
        _sql("DELETE FROM relationships WHERE relationship_type = %s", [BULK_TYPE])
        _sql("INSERT INTO relationships (source_node_id, target_node_id, relationship_type, auto_managed, source, "
             "inference_confidence, review_impact) SELECT s, t, %s, true, 'inference', 0.7, 1.0 "
             "FROM unnest(%s::int[], %s::int[]) AS p(s, t)",
             [BULK_TYPE, [a for a, _ in self.pairs], [b for _, b in self.pairs]])
        self.selection = Relationship.objects.filter(relationship_type=BULK_TYPE, auto_managed=True)

    def after_each(self, side: str, final: bool) -> None:
        if final:
            self.rejected[side] = set(_sql("SELECT source_node_id, target_node_id FROM inference_rejections "
                                           "WHERE relationship_type = %s", [BULK_TYPE]))

    def teardown(self) -> None:
        _sql("DELETE FROM review_decisions WHERE relationship_type = %s", [BULK_TYPE])
        _sql("DELETE FROM inference_rejections WHERE relationship_type = %s", [BULK_TYPE])
        _sql("DELETE FROM relationships WHERE relationship_type = %s", [BULK_TYPE])

    def ours(self) -> None:
        result = review_reject(self.selection, user=self.user, reason="bench")
        if result.decided != BULK:
            raise AssertionError(f"rejected {result.decided:,} of {BULK:,}")

    def run_baseline(self) -> None:
        batch = uuid.uuid4()
        with transaction.atomic():
            for link in self.selection.order_by("relationship_id"):
                low, high = sorted((link.source_node_id, link.target_node_id))
                InferenceRejection.objects.create(source_node_id=low, target_node_id=high,
                                                  relationship_type=link.relationship_type, reason="bench",
                                                  score=float(link.inference_confidence), rejected_by=self.user)
                ReviewDecision.objects.create(action="reject", relationship_id=link.pk, source_node_id=low,
                                              target_node_id=high, relationship_type=link.relationship_type,
                                              reason="bench", decided_by=self.user, batch_id=batch, batch_size=BULK)
                link.delete()

    def quality(self) -> str:
        ours, theirs = self.rejected.get("ours", set()), self.rejected.get("baseline", set())
        return (f"{BULK:,} links; the same {len(ours):,} rejections on both sides" if ours == theirs else
                f"DIFFERENT rejections: ours {len(ours):,}, baseline {len(theirs):,}")


register(RejectedPass("curation.rejected_pass", f"inference pass over every node with 10% of the inferred links "
                                                f"rejected, {WORKERS} run_inference workers (nodes/s)"))
register(BulkReject("curation.bulk_reject", f"rejecting {BULK:,} pending links at once (ms)"))
register(ReviewPage("curation.review_page", f"the review queue's first page at {PENDING_TARGET:,}+ pending links"))
