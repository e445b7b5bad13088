"""graph.0016 moves the reasons an inferred link recorded in ``metadata['inference']['shared']`` into
``inference_reasons`` rows (entries a hand edit broke are left out), and back when it is reversed."""

from __future__ import annotations

import json

from tests.scratch import connect, manage, scratch_database

SHARED = [
    {"type": "fact", "key": "field", "value": "computing", "carriers": 3, "source_attribute": 11,
     "target_attribute": 12, "source_evidence": 0.5, "target_evidence": 0.4, "contribution": 0.41},
    {"type": "fact", "key": "era", "value": "victorian", "carriers": 2, "source_attribute": 13,
     "target_attribute": 14, "source_evidence": 1.0, "target_evidence": 1.0, "contribution": 0.9},
    {"type": "fact", "key": "broken", "value": "x", "carriers": "many"},  # edited by hand: left out
]


def test_recorded_reasons_become_rows_and_go_back_on_reverse():
    with scratch_database("kgsite_curation_mig") as db:
        manage(db, "migrate", "graph", "0015", "--verbosity", "0")
        with connect(db, autocommit=True) as conn:
            a, b = (conn.execute("INSERT INTO nodes (name, node_type) VALUES (%s, 'concept') RETURNING node_id",
                                 [name]).fetchone()[0] for name in ("Ada", "Babbage"))
            metadata = {"inference": {"rule": 1, "score": 0.94, "shared": SHARED, "too_common": []}, "note": "kept"}
            link = conn.execute(
                "INSERT INTO relationships (source_node_id, target_node_id, relationship_type, auto_managed, "
                "source, metadata) VALUES (%s, %s, 'shares_attributes', true, 'inference', %s) "
                "RETURNING relationship_id", [a, b, json.dumps(metadata)]).fetchone()[0]
        manage(db, "migrate", "graph", "0016", "--verbosity", "0")
        with connect(db) as conn:
            rows = conn.execute("SELECT attribute_key, source_attribute_id, target_attribute_id, carriers, "
                                "contribution, rule_version FROM inference_reasons WHERE relationship_id = %s "
                                "ORDER BY contribution DESC", [link]).fetchall()
            after = conn.execute("SELECT metadata FROM relationships WHERE relationship_id = %s", [link]).fetchone()[0]
        assert rows == [("era", 13, 14, 2, 0.9, 1), ("field", 11, 12, 3, 0.41, 1)]
        assert "shared" not in after["inference"] and after["inference"]["score"] == 0.94 and after["note"] == "kept"
        manage(db, "migrate", "graph", "0015", "--verbosity", "0")
        with connect(db) as conn:
            back = conn.execute("SELECT metadata FROM relationships WHERE relationship_id = %s", [link]).fetchone()[0]
        assert [item["key"] for item in back["inference"]["shared"]] == ["era", "field"]
