"""Run settings: one dataclass, filled by the command line, read by every scenario."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Settings:
    scenario: str
    urls: list[str] = field(default_factory=list)
    clients: int = 20
    duration: float = 10.0
    max_mutations: int = 1_000_000
    batch_size: int = 50
    record_size: int = 200
    spaces: int = 4
    # spaces each client follows (load/scenarios/base.py, "spaces_of"): 1, its home space
    # shared round-robin; N > 1, a private space plus N-1 of the --spaces shared pool
    spaces_per_client: int = 1
    token: str | None = None
    token_secret: str | None = None
    read_only_clients: int = 0  # with token_secret: clients whose token cannot write
    seed: int | None = None
    page_limit: int = 1000
    settle_timeout: float = 30.0
    ws_client: str = "raw"  # or "websockets" (see load/wsconn.py)
    # the chaos mix (contention, offline-burst): "" or "all" or e.g. "chains,ops,slow,hostile"
    mix: str = ""
    slow_consumers: int = 2  # with slow: WebSocket subscribers that read in fits
    hostile_clients: int = 2  # with hostile: clients sending poison next to innocent writes
    # steady
    ws_ratio: float = 0.5  # share of clients that follow the feed over the WebSocket
    pull_every: int = 1  # HTTP clients pull after every N pushes; 0: only at the end
    interval: float = 0.0  # think time between a client's pushes, seconds
    # with token_secret and spaces_per_client > 1: clients that lose a shared space mid-run
    # (a refreshed token) and, most of them, get it back later (load/grants.py)
    revocations: int = 0
    # steady and offline-burst write mix: the rest are new records
    patch_share: float = 0.25  # merge patches of the client's own records
    delete_share: float = 0.05
    # offline-burst
    offline_max: float = 2.0
    writes_per_s: float = 20.0
    replay_twice: float = 0.2
    drop_response: float = 0.2
    # contention
    hot_records: int = 5
    fields: int = 3
    # fanout
    subscribers: int = 100
    writers: int = 4
    rate: float = 50.0  # total writes per second across writers
    procs: int = 0  # > 0: most subscribers are cheap receivers in this many processes
    sample: int = 100  # with procs: subscribers that decode and time each change
    # initial-sync
    records: int = 10_000
    readers: int = 1

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for secret in ("token", "token_secret"):
            if data[secret]:
                data[secret] = "***"
        return data

    def scenario_settings(self) -> dict[str, Any]:
        """The settings that shape this run (the report's parameters table): the common
        ones, the scenario's own, and the chaos mix's when it is on. All of them are in
        ``to_json()``."""
        from load.chaos import parse_mix  # settings is imported by everything: keep it light

        names = [*COMMON, *SCENARIO_SETTINGS.get(self.scenario, ())]
        mix = parse_mix(self.mix) if self.mix else frozenset()
        names += [name for part, name in MIX_SETTINGS if part in mix]
        data = self.to_json()
        return {name: data[name] for name in names}


# what every scenario uses, then each scenario's own options (as `python -m load --help`
# marks them), then the chaos mix's
COMMON = ("clients", "duration", "max_mutations", "batch_size", "record_size", "spaces",
          "spaces_per_client", "seed", "page_limit", "settle_timeout", "token_secret",
          "read_only_clients")
SCENARIO_SETTINGS: dict[str, tuple[str, ...]] = {
    "steady": ("ws_ratio", "pull_every", "interval", "patch_share", "delete_share", "ws_client",
               "revocations"),
    "offline-burst": ("mix", "offline_max", "writes_per_s", "replay_twice", "drop_response",
                      "patch_share", "delete_share"),
    "contention": ("mix", "hot_records", "fields", "ws_client"),
    "fanout": ("subscribers", "writers", "rate", "ws_client", "procs", "sample"),
    "initial-sync": ("records", "readers", "ws_client"),
}
MIX_SETTINGS = (("slow", "slow_consumers"), ("slow", "ws_client"), ("hostile", "hostile_clients"))
