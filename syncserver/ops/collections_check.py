"""`syncserver collections check FILE`: what a new collections file would do to a database,
before a server starts with it. It reads only: nothing is written, deleted or migrated,
beside a running server too.

1. The file is read and checked as `serve` would (a problem: exit 2, with its place and fix).
2. It is compared with the file in force (storage/in_force.py), and what changed is listed
   (collections/changes.py).
3. Every live record of each collection the file gives a schema is validated against it,
   a page at a time in key order (Storage.scan_records); the ones that do not validate are
   counted per collection and the first few shown with their pointer and message. None is
   changed: an operator fixes them, or the schema, before the file goes in force.

Exit status: 0 nothing to fix (changes alone are fine), 1 records that do not validate,
2 the check could not be made (an unusable file, a database that cannot be read).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from ..collections.changes import Change, changes
from ..collections.declared import CollectionsFileError, Declared, load_collections
from ..config.setting_kinds import mask_password
from ..config.settings import Settings
from ..config.startup import StartupError
from ..storage import in_force
from ..storage.base import Storage
from ..storage.record_scan import START

PAGE = 500  # records read at once: a page of records at their largest stays a few MB
SHOWN = 20  # invalid records listed per collection (all are counted)
EXIT_OK, EXIT_INVALID, EXIT_UNUSABLE = 0, 1, 2


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """The `collections check` parser (cli.py adds --db to it)."""
    collections: argparse.ArgumentParser = sub.add_parser(
        "collections", help="the declared collections (docs/collections.md): "
                            "`collections check FILE`")
    commands = collections.add_subparsers(dest="collections_command", required=True)
    check: argparse.ArgumentParser = commands.add_parser(
        "check", help="check a collections file, list what it changes from the file in "
                      "force, and report the stored records that would not validate against "
                      "it (reads only; exit 0 fine, 1 invalid records, 2 unusable file)")
    check.add_argument("file", help="the collections file (.toml or .json)")
    check.add_argument("--json", action="store_true",
                       help="print the report as one JSON object (docs/collections-cli.md)")
    check.add_argument("--progress-every", type=float, default=1.0, metavar="SECONDS",
                       help="how often the scan of the records reports on stderr (default "
                            "1; 0: after every page of 500 records)")
    return check


@dataclass
class Invalid:
    """The records of one collection that do not validate."""

    count: int = 0
    first: list[dict[str, str]] = field(default_factory=list)  # at most SHOWN


@dataclass
class Report:
    file: str
    database: str
    recorded: bool  # whether the database holds a file in force
    changes: list[Change]
    total: int = 0  # live records of the collections with a schema
    scanned: int = 0
    invalid: dict[str, Invalid] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "database": self.database, "usable": True,
                "in_force_recorded": self.recorded,
                "changes": [c.as_json() for c in self.changes],
                "scanned": self.scanned,
                "invalid": {name: {"count": i.count, "first": i.first}
                            for name, i in self.invalid.items()},
                "invalid_count": sum(i.count for i in self.invalid.values())}


class Progress:
    """Records scanned out of the total, on stderr, at most every `every` seconds: one
    line rewritten on a terminal, a line each time otherwise (a log)."""

    def __init__(self, total: int, every: float, stream: IO[str]) -> None:
        self.total = total
        self.every = every
        self.stream = stream
        self.tty = stream.isatty()
        self.last = time.monotonic()

    def show(self, scanned: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < self.every:
            return
        self.last = now
        share = f" ({100 * scanned // self.total}%)" if self.total else ""
        line = f"collections check: scanned {scanned:,} / {self.total:,} records{share}"
        end = "\n" if final or not self.tty else ""
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()


async def scan(storage: Storage, declared: Declared, report: Report, every: float) -> None:
    """Validate every live record of the collections with a schema (report.invalid)."""
    schemas = {name: spec.schema for name, spec in declared.collections.items()
               if spec.schema is not None}
    names = sorted(schemas)
    report.total = await storage.count_records(names)
    print(f"collections check: scanning {report.total:,} records of {len(names)} "
          f"collection{'s' * (len(names) != 1)} in {report.database} ...", file=sys.stderr,
          flush=True)
    progress = Progress(report.total, every, sys.stderr)
    after = START
    while True:
        page = await storage.scan_records(names, after, PAGE)
        for record in page:
            data = orjson.loads(record.data) if record.data is not None else None
            problem = schemas[record.collection].problem(data)
            if problem is not None:
                invalid = report.invalid.setdefault(record.collection, Invalid())
                invalid.count += 1
                if len(invalid.first) < SHOWN:
                    invalid.first.append({"space": record.space, "id": record.id,
                                          "pointer": problem.pointer,
                                          "message": problem.message})
        report.scanned += len(page)
        if len(page) < PAGE:
            break
        after = page[-1].key
        progress.show(report.scanned)
    progress.show(report.scanned, final=True)


async def _check(settings: Settings, declared: Declared, file: str, every: float) -> Report:
    from ..storage.factory import check_read_only, open_storage

    check_read_only(settings)  # reads only: creates and migrates nothing
    storage = open_storage(settings, read_only=True)
    await storage.open()
    try:
        stored = in_force.parse(await storage.meta(in_force.KEY))
        report = Report(file, mask_password(settings.db), stored is not None,
                        changes(stored, in_force.canonical(declared)))
        await scan(storage, declared, report, every)
        return report
    finally:
        await storage.close()


def run(settings: Settings, args: argparse.Namespace) -> int:
    """The command; its exit status."""
    try:
        declared = load_collections(args.file)
    except CollectionsFileError as exc:
        return _unusable(str(exc), args)
    try:
        report = asyncio.run(_check(settings, declared, args.file, args.progress_every))
    except StartupError as exc:  # no database there, an old schema: nothing was checked
        return _unusable(str(exc), args)
    if args.json:
        print(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        print("\n".join(describe(report, declared)))
    return EXIT_INVALID if report.invalid else EXIT_OK


def _unusable(message: str, args: argparse.Namespace) -> int:
    print(f"syncserver: {message}", file=sys.stderr, flush=True)
    if args.json:
        print(orjson.dumps({"file": args.file, "usable": False, "problem": message}).decode())
    return EXIT_UNUSABLE


def describe(report: Report, declared: Declared) -> list[str]:
    """The report as an operator reads it."""
    n = len(declared.collections)
    lines = [f"{report.file}: a usable collections file ({n} collection{'s' * (n != 1)}, "
             f"app_version {declared.app_version}, min_app_version "
             f"{declared.min_app_version}, undeclared {declared.undeclared})"]
    if not report.recorded:
        lines.append(f"{report.database} records no file in force (no server of this "
                     "version has started on it): compared with no file")
    if report.changes:
        lines.append(f"changes from the file in force on {report.database}:")
        lines.extend(f"  {change.describe()}" for change in report.changes)
    else:
        lines.append(f"no changes from the file in force on {report.database}")
    lines.append(f"records: {report.scanned:,} scanned in the collections with a schema")
    for name, invalid in sorted(report.invalid.items()):
        many = invalid.count != 1
        lines.append(f"  {name}: {invalid.count:,} record{'s' * many} "
                     f"{'do' if many else 'does'} not validate against this file:")
        lines.extend(f"    {r['space']}/{r['id']} at {r['pointer'] or '(the root)'}: "
                     f"{r['message']}" for r in invalid.first)
        if invalid.count > len(invalid.first):
            lines.append(f"    (and {invalid.count - len(invalid.first):,} more)")
    if report.invalid:
        lines.append("nothing was changed. Once this file is in force, a write to one of "
                     "these records must make it valid: fix them first (a put of valid "
                     "data), or loosen the schema.")
    else:
        lines.append("every record validates against this file")
    return lines
