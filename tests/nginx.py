"""nginx for tests: a configuration block taken from docs/deployment.md, run in the
foreground with its files in a temporary folder, stopped by its own pid."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.server import REPO

DOC = REPO / "docs" / "deployment.md"


def doc_block(section: str) -> str:
    """The first nginx block of the deployment doc after the heading `section`."""
    text = DOC.read_text().split(section, 1)[1]
    match = re.search(r"```nginx\n(.*?)```", text, re.S)
    assert match, f"no nginx block under {section!r} in {DOC}"
    return match.group(1)


def seconds(value: str) -> float:
    units = {"": 1, "s": 1, "m": 60, "h": 3600}
    number, unit = re.fullmatch(r"(\d+)([smh]?)", value).groups()  # type: ignore[union-attr]
    return int(number) * units[unit]


@contextmanager
def running(root: Path, block: str, port: int) -> Iterator[None]:
    """nginx with `block` inside its `http {}`, until it listens on 127.0.0.1:`port`."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        raise AssertionError("nginx is missing: apt-get install nginx-light (scripts/test)")
    user = "user root;" if os.geteuid() == 0 else ""  # workers must reach the temp folders
    (root / "nginx.conf").write_text(f"""{user}
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy-temp;
{block}
}}
""")
    proc = subprocess.Popen([nginx, "-c", str(root / "nginx.conf"), "-p", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()  # type: ignore[union-attr]
