"""The load benchmark's arithmetic and request mix (bench/benchmarks/load.py), without a server or a database."""

from __future__ import annotations

import math
import random

from bench.benchmarks import load


def test_percentile_is_nearest_rank():
    values = [float(n) for n in range(1, 101)]  # 1 .. 100
    random.Random(1).shuffle(values)
    assert load.percentile(values, 50) == 50.0
    assert load.percentile(values, 95) == 95.0
    assert load.percentile(values, 99) == 99.0
    assert load.percentile(values, 100) == 100.0
    assert load.percentile([0.2, 0.1, 0.3], 50) == 0.2
    assert load.percentile([7.0], 99) == 7.0
    assert math.isnan(load.percentile([], 50))


def test_capacity_is_cores_over_cpu_per_request():
    assert load.capacity(2, 0.030) == 2 / 0.030
    assert load.capacity(2, 0.0) == math.inf


def test_cpu_delta_counts_new_tasks_whole_and_forgets_gone_ones():
    before = {(1, 1): 1.0, (1, 2): 2.0, (9, 9): 5.0}
    after = {(1, 1): 1.5, (1, 2): 2.25, (1, 3): 0.5}
    assert load.cpu_delta(before, after) == 0.5 + 0.25 + 0.5


def test_request_paths_cover_every_kind():
    targets = load.Targets(typical=[11, 12], hubs=[1], names=["Kai Lor"], attribute_terms=["active"])
    rng = random.Random(3)
    paths = {kind: load.request_path(kind, targets, rng) for kind in load.MIX}
    assert paths["node_page"] in ("/nodes/11/", "/nodes/12/", "/nodes/1/")
    assert paths["neighbourhood"] in ("/nodes/11/neighbourhood/", "/nodes/12/neighbourhood/")
    assert paths["search.node"] == "/search/?node=Kai+Lor"
    assert paths["search.text"] == "/search/?text=Kai+Lor"
    assert paths["admin.node"] == "/admin/graph/node/"
    assert paths["admin.relationship.q"] == "/admin/graph/relationship/?q=Kai+Lor"
    assert paths["admin.nodeattribute.q"] == "/admin/graph/nodeattribute/?q=active"
    assert sum(load.MIX.values()) == 100
