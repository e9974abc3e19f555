"""Careless operators: every setting is checked at start, from a flag or from the
environment alike, and a bad one stops the command with one line that names the setting
and says what is allowed."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from syncserver.config.settings import (
    Choice,
    Directory,
    Flag,
    Number,
    Settings,
    Text,
    Whole,
    env_name,
)
from syncserver.ops.cli import main
from tests.server import free_port

from .cli_support import assert_one_line_failure, run_syncserver

# Text settings have no range to step out of: their bad values are listed here, and a
# setting of a kind this test cannot derive bad values for fails the walk below.
BAD_TEXT = {
    "db": ["postgresql://localhost/", "postgres://localhost", "mysql://x/y", "",
           "sqlite:///:memory:"],
    "host": ["", "two words"],
    "secret": ["short"],
    "default_policy": ["newest"],
    "policies": ["todos", "todos=newest"],
    "resolvers": ["todos=resolve", "todos=no_such_module_here:resolve"],
    "collections": ["/no/such/collections.toml", str(Path(__file__)),  # .py: no format
                    str(Path(__file__).parent)],
    "ssl_certfile": [str(Path(__file__).parent / "no-such.pem"), str(Path(__file__).parent)],
    "ssl_keyfile": [str(Path(__file__).parent / "no-such.key")],
    "csp": ["", "default-src 'self'\nX-Injected: 1"],
    "cors_origins": ["*", "app.example.com", "https://app.example.com/", "ftp://x.example",
                     "https://a.example/path", "https://user@a.example", "https://a.example:99999"],
    "jwt_secret": ["short"],
    "jwks": ["/no/such/jwks.json", "ftp://keys.example/jwks.json"],
    "jwt_issuer": [" https://issuer.example", "https://issuer\t.example"],
    "jwt_audience": ["sync-app ", "sync\x01app"],
    "metrics_token": ["short", "a secret with spaces in it"],
    "webpush_vapid_key": ["not base64!", "AAAA"],
    "webpush_vapid_key_file": ["/no/such/vapid.pem"],
    "webpush_subject": ["you@example.com", "http://example.com"],
    "webpush_notify_new": ["messages", "messages=", "bad name=New", "m=" + "x" * 101,
                           "m=New\x07", "m=A,m=B", ",".join(f"c{i}=T" for i in range(21))],
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _bad_values(name: str, kind: object) -> list[str]:
    if isinstance(kind, Whole):
        return [str(kind.lo - 1), str(kind.hi + 1), "ten", "1.5"]
    if isinstance(kind, Number):
        return [str(kind.lo - 1), str(kind.hi * 2), "nan", "inf", "soon"]
    if isinstance(kind, Choice):
        return ["bogus"]
    if isinstance(kind, Flag):
        return ["maybe"]
    if isinstance(kind, Directory):  # a missing path, and a file that is not a folder
        return [str(Path(__file__).parent / "no-such-directory"), __file__]
    assert isinstance(kind, Text) and name in BAD_TEXT, f"no bad value known for {name}"
    return BAD_TEXT[name]


def _walk() -> list[tuple[str, str]]:
    return [(f.name, value) for f in fields(Settings)
            for value in _bad_values(f.name, f.metadata["kind"])]


def _fails_in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    message = capsys.readouterr().err.strip()
    assert "\n" not in message and "Traceback" not in message, message
    return message


@pytest.mark.parametrize(("name", "value"), _walk())
def test_every_setting_refuses_an_out_of_range_value_from_a_flag_and_from_the_environment(
        name: str, value: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    kind = next(f.metadata["kind"] for f in fields(Settings) if f.name == name)
    flag, variable = _flag(name), env_name(name)
    if not isinstance(kind, Flag):  # booleans are --x / --no-x on the command line
        message = _fails_in_process(["settings", f"{flag}={value}"], capsys)
        assert flag in message and variable in message and kind.allowed in message, message
    monkeypatch.setenv(variable, value)
    message = _fails_in_process(["settings"], capsys)
    assert flag in message and variable in message and kind.allowed in message, message


def test_every_setting_has_a_kind_that_states_its_allowed_values() -> None:
    for f in fields(Settings):
        kind = f.metadata.get("kind")
        assert kind is not None and kind.allowed, f"{f.name} has no kind"
        # the default itself is allowed
        assert Settings.from_sources({}, {}).__getattribute__(f.name) == f.default


@pytest.mark.parametrize(("args", "env", "named"), [
    (["--port", "99999"], {}, "--port"),
    (["--port", "0"], {}, "--port"),
    (["--log-level", "loud"], {}, "--log-level"),
    ([], {"SYNCSERVER_SQLITE_SYNCHRONOUS": "FAST"}, "SYNCSERVER_SQLITE_SYNCHRONOUS"),
    ([], {"SYNCSERVER_SQLITE_SYNCHRONOUS": "OFF"}, "SYNCSERVER_SQLITE_SYNCHRONOUS"),
    (["--max-wait", "-1"], {}, "--max-wait"),
    ([], {"SYNCSERVER_MAX_PAGE": "0"}, "SYNCSERVER_MAX_PAGE"),
    (["--ws-queue", "0"], {}, "--ws-queue"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else
    " ".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else v)
def test_serve_with_a_bad_setting_exits_2_with_one_line_and_serves_nothing(
        args: list[str], env: dict[str, str], named: str, tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    port = [] if "--port" in args else ["--port", str(free_port())]
    done = run_syncserver(["serve", "--db", str(db), "--no-demo", *port, *args], env=env)
    assert_one_line_failure(done, named, status=2)
    assert not db.exists(), "a bad setting must stop the server before it touches the db"


def test_synchronous_off_is_refused_with_the_reason(tmp_path: Path) -> None:
    done = run_syncserver(["settings", "--sqlite-synchronous", "off"])
    message = assert_one_line_failure(done, "--sqlite-synchronous",
                                      "SYNCSERVER_SQLITE_SYNCHRONOUS", "FULL", status=2)
    assert "OFF" in message and "lose" in message


def test_settings_shows_the_values_in_force_and_where_each_came_from(tmp_path: Path) -> None:
    done = run_syncserver(["settings", "--port", "9123", "--db", str(tmp_path / "a.db")],
                          env={"SYNCSERVER_MAX_PAGE": "77", "SYNCSERVER_SECRET": "x" * 32,
                               "SYNCSERVER_SQLITE_SYNCHRONOUS": "normal"})
    assert done.returncode == 0, done.stderr
    rows = {line.split("|")[1].strip(" `"): [c.strip(" `") for c in line.split("|")[2:-1]]
            for line in done.stdout.splitlines() if line.startswith("| `--")}
    assert set(rows) == {_flag(f.name) for f in fields(Settings)}
    # columns: environment variable, value, from, allowed, meaning
    assert rows["--port"][1:3] == ["9123", "flag"]
    assert rows["--max-page"][1:3] == ["77", "environment"]
    assert rows["--sqlite-synchronous"][1:3] == ["NORMAL", "environment"]
    assert rows["--max-wait"][1:3] == ["60.0", "default"]
    assert rows["--secret"][2] == "environment" and "x" * 32 not in done.stdout
    assert not (tmp_path / "a.db").exists()


def test_read_only_commands_create_no_database_and_no_directory(tmp_path: Path) -> None:
    db = tmp_path / "nothing" / "here.db"
    done = run_syncserver(["conflicts", "--db", str(db)])
    assert_one_line_failure(done, str(db))
    done = run_syncserver(["settings", "--db", str(db)])
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "nothing").exists()
    assert list(tmp_path.iterdir()) == []
