"""``python -m load validators``: what validating one record against its collection's JSON
Schema costs, per validator, next to what a push costs per mutation (docs/benchmarks.md,
"Issue 23: validating records").

Three schemas an app would declare, each with a valid record and a near miss
(load/record_schemas.py): ``todo`` (push-new's ~200-byte record), ``document`` (nested,
``$ref``, patterns, ~8.5 kB) and ``large`` (just under the record size limit).

The validators, each asked what the server asks (``RecordSchema.problem``: is the data valid,
and if not, where first):
- ``jsonschema-rs``: ``syncserver.collections.schema.RecordSchema``, the server's own;
- ``jsonschema``: ``Draft202012Validator`` (``is_valid``, then the first of ``iter_errors``);
- ``fastjsonschema`` (when installed; it is not a dependency): it has no 2020-12, so it is
  timed on each schema's draft-07 equivalent, and its answers to two 2020-12 keywords are
  shown (it ignores one and misreads the other).

CPU time per record: ``time.process_time`` over as many calls as fill ``--seconds``, the
median of ``--repeats`` such runs. ``--instructions`` counts instructions too (valgrind's
callgrind, as ``python -m load.instructions``): a worker process runs each case N and 2N
times between zeroed counters, and the difference over N is one record's count, the
worker's own constant work cancelled.

The push beside it: a spawned server (``--auth none``, no collections file: the push as it
is without validation) takes batches of new records of each schema's valid record; its
process CPU per mutation, and with ``--instructions`` its instructions per mutation under
callgrind. The todo's batches are those of ``load.instructions push-new``.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from load.instructions import Server, batches, callgrind_control, dump_instructions, latest_dump
from load.machine import process_cpu_seconds
from load.record_schemas import DRAFT_07, Case, cases, draft_07
from load.spawn import SpawnedServer
from syncserver.collections.schema import DIALECT, RecordSchema, pointer_of

VALIDATORS = ("jsonschema-rs", "jsonschema", "fastjsonschema")
BATCH_BYTES = 3_000_000  # records per push batch: this many bytes (the limit is 4,000,000)

Check = Callable[[Any], "str | None"]  # a record's data -> pointer of its first problem


def available() -> dict[str, str | None]:
    """Validator -> None when it can be measured here, else why not."""
    return {name: None if importlib.util.find_spec(name.replace("-", "_")) else
            "not installed (not a dependency of syncserver; `pip install fastjsonschema` to "
            "measure it)" for name in VALIDATORS}


def check_of(validator: str, schema: dict[str, Any]) -> Check:
    """The server's question (is it valid; if not, where first) asked of one validator."""
    if validator == "jsonschema-rs":
        record_schema = RecordSchema(schema)

        def rs(data: Any) -> str | None:
            problem = record_schema.problem(data)
            return None if problem is None else problem.pointer
        return rs
    if validator == "jsonschema":
        import jsonschema

        python = jsonschema.Draft202012Validator(schema)

        def pure(data: Any) -> str | None:
            if python.is_valid(data):
                return None
            return pointer_of(list(next(python.iter_errors(data)).absolute_path))
        return pure
    import fastjsonschema  # type: ignore[import-not-found,unused-ignore]

    compiled = fastjsonschema.compile({"$schema": DRAFT_07, **draft_07(schema)})

    def fast(data: Any) -> str | None:
        try:
            compiled(data)
        except fastjsonschema.JsonSchemaValueException as exc:
            path: list[str | int] = list(exc.path[1:])  # its path starts with "data"
            return pointer_of(path)
        return None
    return fast


def fastjsonschema_on_2020_12() -> list[dict[str, Any]]:
    """What fastjsonschema answers for two 2020-12 keywords, against jsonschema-rs."""
    import fastjsonschema  # type: ignore[import-not-found,unused-ignore]

    probes: list[tuple[dict[str, Any], Any]] = [
        ({"type": "object", "dependentRequired": {"end": ["start"]}}, {"end": 5}),
        ({"type": "array", "prefixItems": [{"type": "string"}], "items": False}, ["a"])]
    out = []
    for schema, data in probes:
        try:
            fastjsonschema.compile({"$schema": DIALECT, **schema})(data)
            fast = "valid"
        except fastjsonschema.JsonSchemaException:
            fast = "invalid"
        server = "valid" if RecordSchema(schema).problem(data) is None else "invalid"
        out.append({"schema": schema, "data": data, "fastjsonschema": fast,
                    "jsonschema-rs": server})
    return out


def cpu_per_call(check: Check, data: Any, seconds: float, repeats: int) -> float:
    """Median CPU seconds of one call, over `repeats` runs of as many calls as fill
    `seconds` (at least one)."""
    calls, spent = 1, 0.0
    while spent < seconds / 10 and calls < 1 << 24:  # calibrate on a tenth of the time
        calls *= 2
        started = time.process_time()
        for _ in range(calls):
            check(data)
        spent = time.process_time() - started
    calls = max(1, int(calls * seconds / max(spent, 1e-9)))
    runs = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(calls):
            check(data)
        runs.append((time.process_time() - started) / calls)
    return statistics.median(runs)


def measurements(names: list[str]) -> Iterator[tuple[str, Case, str, str, Check, Any]]:
    """(validator, case, dialect, data kind, check, data) for every measurement."""
    for case in cases():
        for validator in names:
            check = check_of(validator, case.schema)
            dialect = "draft-07" if validator == "fastjsonschema" else "2020-12"
            for kind, data in (("valid", case.valid), ("invalid", case.invalid)):
                yield validator, case, dialect, kind, check, data


def run(names: list[str], seconds: float, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for validator, case, dialect, kind, check, data in measurements(names):
        pointer = check(data)
        rows.append({
            "schema": case.name, "record_bytes": len(orjson.dumps(data)),
            "validator": validator, "dialect": dialect, "data": kind, "pointer": pointer,
            "agrees": pointer == (None if kind == "valid" else case.pointer),
            "us_per_record": round(cpu_per_call(check, data, seconds, repeats) * 1e6, 3),
        })
    return rows


def worker() -> int:
    """Under callgrind: build every check, then for each line `INDEX CALLS` on stdin, run that
    measurement CALLS times and answer `done`; the parent zeroes and dumps around it."""
    work = list(measurements([name for name, why in available().items() if why is None]))
    for _, _, _, _, check, data in work:
        check(data)  # warm: first-call work (regex compilation, caches) is not per record
    print("ready", flush=True)
    for line in sys.stdin:
        index, calls = (int(word) for word in line.split())
        _, _, _, _, check, data = work[index]
        for _ in range(calls):
            check(data)
        print("done", flush=True)
    return 0


def count_instructions(rows: list[dict[str, Any]], say: Callable[[str], None]) -> None:
    """Add `instructions_per_record` to each row: N and 2N calls in a worker under callgrind."""
    workdir = tempfile.mkdtemp(prefix="syncserver-validators-")
    say("validators: starting a worker under callgrind (about a minute)")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={workdir}/callgrind.%p",
         sys.executable, "-m", "load", "validators", "--worker"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("the callgrind worker did not start")

        def counted(index: int, calls: int) -> int:
            callgrind_control("-z", proc.pid)
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(f"{index} {calls}\n")
            proc.stdin.flush()
            proc.stdout.readline()
            callgrind_control("-d", proc.pid)
            return dump_instructions(latest_dump(workdir))

        for index, row in enumerate(rows):
            # ~20 ms of native work per count; the loop's own cost (~100 instructions a
            # call) stays in, as the server's call of RecordSchema.problem does
            calls = max(2, min(2_000, int(20_000 / max(row["us_per_record"], 0.01))))
            once, twice = counted(index, calls), counted(index, 2 * calls)
            row["instructions_per_record"] = round((twice - once) / calls)
            say(f"{row['validator']} {row['schema']} {row['data']}: "
                f"{row['instructions_per_record']:,} instructions")
    finally:
        proc.stdin.close()
        proc.wait(timeout=600)
        shutil.rmtree(workdir, ignore_errors=True)


def push_bodies(case: Case, count: int) -> tuple[int, Iterator[bytes]]:
    """(records a batch, `count` push bodies of new records of the case's valid record)."""
    size = max(1, min(500, BATCH_BYTES // len(orjson.dumps(case.valid))))
    return size, batches(False, count, f"v-{case.name}", case.valid, size, case.name)


def _post(conn: http.client.HTTPConnection, body: bytes) -> None:
    conn.request("POST", "/v1/push", body, {"content-type": "application/json"})
    response = conn.getresponse()
    answer = response.read()
    statuses = {r["status"] for r in orjson.loads(answer)["results"]} if (
        response.status == 200) else {f"HTTP {response.status}"}
    if statuses != {"applied"}:
        raise SystemExit(f"a push of the benchmark's records was not applied: {answer[:300]!r}")


def push_cpu(server: SpawnedServer, case: Case, cpu_seconds: float) -> dict[str, Any]:
    """The push's server CPU per mutation for the case's record: batches of new records (in a
    space of the case's own) until the server spent `cpu_seconds`, after 5 of warm-up."""
    assert server.proc is not None
    size, bodies = push_bodies(case, 100_000)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    for _ in range(5):
        _post(conn, next(bodies))
    before = process_cpu_seconds(server.proc.pid) or 0.0
    pushed, spent = 0, 0.0
    while spent < cpu_seconds and pushed < 20_000 * size:
        _post(conn, next(bodies))
        pushed += size
        spent = (process_cpu_seconds(server.proc.pid) or 0.0) - before
    conn.close()
    return {"schema": case.name, "record_bytes": len(orjson.dumps(case.valid)),
            "records_per_batch": size, "mutations": pushed,
            "us_per_mutation": round(spent / pushed * 1e6, 2)}


def push_instructions(case: Case, say: Callable[[str], None]) -> int:
    """The push's instructions per mutation for the case's record: the server under callgrind
    (load.instructions.Server), 5 batches of warm-up, then 10 batches counted."""
    size, bodies = push_bodies(case, 15)
    workdir = tempfile.mkdtemp(prefix="syncserver-validators-push-")
    try:
        say(f"push of {case.name} records: starting the server under callgrind")
        server = Server(workdir)
        try:
            for _ in range(5):  # as push-new: 5 batches of warm-up, 10 counted
                server.request("POST", "/v1/push", next(bodies))
            server.control("-z")
            for body in bodies:
                server.request("POST", "/v1/push", body)
            server.control("-d")
            return round(server.instructions() / (10 * size))
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def with_shares(rows: list[dict[str, Any]], pushes: dict[str, dict[str, Any]]) -> None:
    for row in rows:
        push = pushes[row["schema"]]
        row["share_of_push_cpu"] = round(row["us_per_record"] / push["us_per_mutation"], 4)
        if "instructions_per_record" in row and "instructions_per_mutation" in push:
            row["share_of_push_instructions"] = round(
                row["instructions_per_record"] / push["instructions_per_mutation"], 4)


def _cell(value: Any, form: str) -> str:
    return "" if value is None else format(value, form)


def tables(rows: list[dict[str, Any]], pushes: dict[str, dict[str, Any]]) -> str:
    lines = ["| schema | bytes | push: records a batch | push: server CPU us per mutation | "
             "push: instructions per mutation |", "|---|---|---|---|---|"]
    lines += [f"| {p['schema']} | {p['record_bytes']:,} | {p['records_per_batch']} | "
              f"{p['us_per_mutation']:,.2f} | {_cell(p.get('instructions_per_mutation'), ',')} |"
              for p in pushes.values()]
    lines += ["", "| schema | validator | draft | data | us per record | share of its push "
              "(CPU) | instructions per record | share of its push (instructions) |",
              "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        wrong = "" if row["agrees"] else f" (answered {row['pointer']!r})"
        lines.append(
            f"| {row['schema']} | {row['validator']} | {row['dialect']} | {row['data']}{wrong} "
            f"| {row['us_per_record']:,.2f} | {row['share_of_push_cpu']:.1%} | "
            f"{_cell(row.get('instructions_per_record'), ',')} | "
            f"{_cell(row.get('share_of_push_instructions'), '.1%')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m load validators", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=0.3, help="CPU seconds of one timed run")
    p.add_argument("--repeats", type=int, default=5, help="timed runs; the median is reported")
    p.add_argument("--push-seconds", type=float, default=2.0,
                   help="server CPU seconds of pushes per schema (default 2)")
    p.add_argument("--instructions", action="store_true",
                   help="count instructions per record and per pushed mutation too "
                   "(valgrind; about 10 minutes)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE too")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker()
    if args.seconds <= 0 or args.push_seconds <= 0 or not 1 <= args.repeats <= 1000:
        p.error("--seconds and --push-seconds above 0, --repeats from 1 to 1000")
    if args.instructions and (shutil.which("valgrind") is None
                              or shutil.which("callgrind_control") is None):
        print("valgrind is not installed: apt-get install valgrind", file=sys.stderr)
        return 2

    def say(text: str) -> None:
        print(f"  .. {text}", file=sys.stderr, flush=True)

    skipped = {name: why for name, why in available().items() if why is not None}
    for name, why in skipped.items():
        say(f"{name}: {why}: skipped")
    rows = run([name for name in VALIDATORS if name not in skipped], args.seconds, args.repeats)
    pushes = {}
    with SpawnedServer(["--auth", "none", "--no-demo"]) as server:
        for case in cases():
            say(f"push of {case.name} records: server CPU")
            pushes[case.name] = push_cpu(server, case, args.push_seconds)
    for case in cases() if args.instructions else []:
        pushes[case.name]["instructions_per_mutation"] = push_instructions(case, say)
    if args.instructions:
        count_instructions(rows, say)
    with_shares(rows, pushes)
    probes = [] if "fastjsonschema" in skipped else fastjsonschema_on_2020_12()
    print(tables(rows, pushes))
    for probe in probes:
        print(f"2020-12 in fastjsonschema: {json.dumps(probe['schema'])} on "
              f"{json.dumps(probe['data'])}: fastjsonschema says {probe['fastjsonschema']}, "
              f"jsonschema-rs {probe['jsonschema-rs']}")
    if args.json:
        with open(args.json, "wb") as out:
            out.write(orjson.dumps({
                "settings": {"seconds": args.seconds, "repeats": args.repeats,
                             "push_seconds": args.push_seconds,
                             "instructions": args.instructions},
                "skipped": skipped, "pushes": list(pushes.values()), "results": rows,
                "fastjsonschema_2020_12": probes}, option=orjson.OPT_INDENT_2))
    disagreeing = [row for row in rows if not row["agrees"]]
    for row in disagreeing:
        say(f"{row['validator']} on the {row['data']} {row['schema']} record answered "
            f"{row['pointer']!r}, not {'valid' if row['data'] == 'valid' else 'the expected'}")
    return 1 if disagreeing else 0


if __name__ == "__main__":
    sys.exit(main())
