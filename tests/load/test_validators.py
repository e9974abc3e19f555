"""``python -m load validators``, briefly: every schema's valid record and near miss through
jsonschema-rs (the server's RecordSchema) and jsonschema, each answer checked, and a push of
each schema's record to a real spawned server beside it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson

from load.cli import main
from load.record_schemas import cases, draft_07
from syncserver.collections.schema import RecordSchema


def test_validators_measures_each_validator_beside_a_real_push(tmp_path: Path) -> None:
    out = tmp_path / "validators.json"
    assert main(["validators", "--seconds", "0.002", "--repeats", "1", "--push-seconds",
                 "0.02", "--json", str(out)]) == 0
    report = orjson.loads(out.read_bytes())
    schemas = [case.name for case in cases()]
    measured = {(r["validator"], r["schema"], r["data"]): r for r in report["results"]}
    for schema in schemas:
        for kind in ("valid", "invalid"):
            for validator in ("jsonschema-rs", "jsonschema"):
                row = measured[(validator, schema, kind)]
                assert row["agrees"], row  # valid: no pointer; invalid: the known one
                assert row["dialect"] == "2020-12"
                assert row["us_per_record"] > 0 and row["share_of_push_cpu"] > 0
    assert [p["schema"] for p in report["pushes"]] == schemas
    for push in report["pushes"]:
        assert push["mutations"] >= push["records_per_batch"] >= 1
        assert push["us_per_mutation"] > 0
    if importlib.util.find_spec("fastjsonschema") is None:
        assert "not installed" in report["skipped"]["fastjsonschema"]
        assert not any(r["validator"] == "fastjsonschema" for r in report["results"])
    else:
        assert {r["dialect"] for r in report["results"]
                if r["validator"] == "fastjsonschema"} == {"draft-07"}
        assert report["fastjsonschema_2020_12"]


def test_the_cases_break_their_schemas_where_they_say() -> None:
    for case in cases():
        schema = RecordSchema(case.schema)
        assert schema.problem(case.valid) is None
        problem = schema.problem(case.invalid)
        assert problem is not None and problem.pointer == case.pointer
    large = cases()[-1]
    assert 200_000 < len(orjson.dumps(large.valid)) < 256_000  # near the record size limit


def test_the_draft_07_equivalent_renames_defs_and_their_references() -> None:
    schema = {"$defs": {"a": {"type": "string"}},
              "properties": {"x": {"$ref": "#/$defs/a"}, "y": {"items": [{"$ref": "#/$defs/a"}]}}}
    assert draft_07(schema) == {
        "definitions": {"a": {"type": "string"}},
        "properties": {"x": {"$ref": "#/definitions/a"},
                       "y": {"items": [{"$ref": "#/definitions/a"}]}}}
