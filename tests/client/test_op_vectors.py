"""The client's unit tests compare its local rules for commutative operations with vectors
computed by the server's rules (client_sw/test/op-vectors.json). When the server's rules
change, this fails until the vectors are regenerated and the client's rules follow."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson

SCRIPT = Path(__file__).resolve().parents[2] / "client_sw" / "scripts" / "op-vectors.py"


def test_the_client_op_vectors_match_the_servers_rules() -> None:
    spec = importlib.util.spec_from_file_location("op_vectors", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = orjson.loads(module.OUTPUT.read_bytes())
    assert committed == orjson.loads(module.vectors()), (
        "run python3 client_sw/scripts/op-vectors.py and make client_sw/src follow")
