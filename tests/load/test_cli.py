"""The command's safety rules: loopback targets only unless told, bounded counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from load.cli import main, parse_args, validate
from load.spawn import server_command

REPO = Path(__file__).resolve().parents[2]


def problem(*argv: str) -> str | None:
    settings, args = parse_args(list(argv))
    return validate(settings, args)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://localhost:1",
        "http://[::1]:80",
        "http://127.9.9.9:8000/prefix",
    ],
)
def test_loopback_targets_are_accepted(url):
    assert problem("steady", "--url", url) is None


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000", "http://example.com", "http://0.0.0.0:1"])
def test_other_targets_are_refused_unless_allowed(url):
    assert "refusing non-loopback target" in (problem("steady", "--url", url) or "")
    assert problem("steady", "--url", url, "--allow-remote") is None


def test_the_command_exits_2_without_touching_a_refused_target(capsys):
    assert main(["steady", "--url", "http://192.0.2.1:80", "--no-progress"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--clients", "0"],
        ["--clients", "100000"],
        ["--duration", "0"],
        ["--duration", "7200"],
        ["--max-mutations", "-1"],
        ["--subscribers", "50000"],
    ],
)
def test_counts_and_durations_are_bounded(argv):
    assert "must be in" in (problem("fanout", "--url", "http://127.0.0.1:1", *argv) or "")


@pytest.mark.parametrize("argv", [["--patch-share", "-0.1"], ["--delete-share", "1.5"],
                                  ["--patch-share", "0.8", "--delete-share", "0.3"]])
def test_write_mix_shares_are_checked(argv):
    assert "--patch-share and --delete-share" in (
        problem("steady", "--url", "http://127.0.0.1:1", *argv) or "")


def test_a_target_is_required_and_only_one_kind():
    assert "--spawn" in (problem("steady") or "")
    assert (
        problem("steady", "--spawn", "--url", "http://127.0.0.1:1")
        == "give either --url or --spawn"
    )
    assert "http://host:port expected" in (problem("steady", "--url", "https://127.0.0.1") or "")


def test_the_chaos_mix_is_named_and_only_for_its_scenarios():
    url = "http://127.0.0.1:8000"
    assert problem("contention", "--url", url, "--chaos") is None
    assert problem("offline-burst", "--url", url, "--mix", "chains,ops") is None
    assert "unknown --mix nonsense" in (problem("contention", "--url", url, "--mix",
                                                "ops,nonsense") or "")
    assert "contention and offline-burst" in (problem("steady", "--url", url, "--chaos") or "")
    settings, _ = parse_args(["contention", "--url", url, "--chaos"])
    assert settings.mix == "all"


def test_a_spawned_server_is_the_checkout_the_tool_runs_from():
    # not the first `syncserver` on PATH (an install of another checkout)
    assert server_command(1, "x.db", [])[:3] == [sys.executable, "-m", "syncserver"]


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",  # unparsable
        "http://127.0.0.1:notaport",
        "http://127.0.0.1:70000",
        "http://127.0.0.1:0",
        "ftp://127.0.0.1:1",
        "127.0.0.1:8000",
        "http://:8000",
        "http://127.0.0.1:8000/?x=1",
        "http://user@127.0.0.1:8000",
    ],
)
def test_a_bad_url_is_a_one_line_usage_error_with_status_2(url, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "load", "steady", "--url", url, "--no-progress",
         "--out", str(tmp_path / "report")],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert url in lines[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "report").exists()  # nothing was run


def test_spaces_per_client_and_revocations_are_checked_against_each_other():
    url = "http://127.0.0.1:8000"
    secret = "x" * 32
    assert problem("steady", "--url", url, "--spaces", "4", "--spaces-per-client", "5") is None
    assert "at least --spaces-per-client - 1" in (
        problem("steady", "--url", url, "--spaces", "3", "--spaces-per-client", "5") or "")
    assert "initial-sync: --spaces must be at least" in (
        problem("initial-sync", "--url", url, "--spaces", "4", "--spaces-per-client", "5") or "")
    assert "must be in [1, 1000]" in (
        problem("steady", "--url", url, "--spaces-per-client", "0") or "")
    assert "applies to steady, offline-burst" in (
        problem("contention", "--url", url, "--spaces-per-client", "2") or "")
    assert problem("steady", "--url", url, "--spaces-per-client", "3",
                   "--token-secret", secret, "--revocations", "2") is None
    assert "needs --token-secret" in (
        problem("steady", "--url", url, "--spaces-per-client", "3", "--revocations", "2") or "")
    assert "needs --token-secret" in (
        problem("steady", "--url", url, "--token-secret", secret, "--revocations", "2") or "")
    assert "applies to the steady scenario" in (
        problem("fanout", "--url", url, "--spaces-per-client", "3", "--token-secret", secret,
                "--revocations", "2") or "")
    assert "--revocations must be in" in (
        problem("steady", "--url", url, "--clients", "4", "--spaces-per-client", "3",
                "--token-secret", secret, "--revocations", "5") or "")
