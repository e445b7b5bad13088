"""Planted duplicates: copies of existing nodes under slightly different names, for measuring how many of them
``find_duplicates`` finds (tests/graph/test_duplicates.py, bench/benchmarks/duplicates.py).

A planted copy has the original's type and parent, a name with one realistic slip (lower case, a dropped letter,
two letters swapped, a hyphen for a space), the original's embedding plus Gaussian noise (cosine similarity about
0.95) and up to ``ATTRIBUTES_COPIED`` of the original's attribute values. ``count`` is small (hundreds): the copies
are made in Python from that many rows, then inserted in one statement per table.
"""

from __future__ import annotations

import numpy as np
from django.db import connection

ATTRIBUTES_COPIED = 2
NOISE = 0.011  # per component of a 768-d unit vector: cosine ≈ 1 / sqrt(1 + 768·σ²) ≈ 0.955


def _slip(name: str, kind: int, rng: np.random.Generator) -> str:
    if kind == 0 and name.lower() != name:
        return name.lower()
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    if kind == 1 and len(letters) > 5:
        cut = letters[int(rng.integers(1, len(letters) - 1))]
        return name[:cut] + name[cut + 1:]
    if kind == 2 and len(letters) > 5:
        i = letters[int(rng.integers(1, len(letters) - 2))]
        if i + 1 < len(name) and name[i + 1].isalpha():
            return name[:i] + name[i + 1] + name[i] + name[i + 2:]
    if " " in name:
        return name.replace(" ", "-", 1)
    return name + "s"


def duplicates_plant(*, count: int, seed: int = 0) -> list[tuple[int, int]]:
    """Plant ``count`` duplicates; returns the (original, copy) node id pairs."""
    rng = np.random.default_rng(seed)
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT node_id, name, node_type, parent_node_id, embedding::text FROM nodes
            WHERE parent_node_id IS NOT NULL AND embedding IS NOT NULL AND length(name) >= 6
            ORDER BY md5(node_id::text || %s) LIMIT %s
        """, [str(seed), count])
        picked = cursor.fetchall()
        rows = []
        for index, (node_id, name, node_type, parent_id, embedding) in enumerate(picked):
            vector = np.array([float(x) for x in embedding.strip("[]").split(",")])
            vector = vector + rng.normal(0.0, NOISE, vector.shape)
            vector /= np.linalg.norm(vector)
            rows.append((_slip(name, index % 4, rng), node_type, parent_id,
                         "[" + ",".join(f"{x:.6f}" for x in vector) + "]", node_id))
        cursor.execute("""
            INSERT INTO nodes (name, node_type, parent_node_id, path, embedding, source, metadata)
            SELECT p.name, p.node_type, p.parent,
                   (SELECT path FROM nodes WHERE node_id = p.parent) || text2ltree('planted_' || p.original),
                   p.embedding::vector, 'planted',
                   jsonb_build_object('planted_from', p.original)
            FROM unnest(%s::text[], %s::text[], %s::integer[], %s::text[], %s::integer[])
                 AS p(name, node_type, parent, embedding, original)
            RETURNING (metadata->>'planted_from')::integer, node_id
        """, [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
              [r[4] for r in rows]])
        pairs = [tuple(row) for row in cursor.fetchall()]
        cursor.execute("""
            INSERT INTO node_attributes (node_id, attribute_type, attribute_key, attribute_value, weight, confidence,
                                         source_reliability)
            SELECT p.copy, a.attribute_type, a.attribute_key, a.attribute_value, a.weight, a.confidence,
                   a.source_reliability
            FROM unnest(%s::integer[], %s::integer[]) AS p(original, copy)
            CROSS JOIN LATERAL (SELECT * FROM node_attributes WHERE node_id = p.original
                                ORDER BY attribute_id LIMIT %s) a
        """, [[p[0] for p in pairs], [p[1] for p in pairs], ATTRIBUTES_COPIED])
    return pairs
