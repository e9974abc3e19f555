"""The load scenarios, by command-line name."""

from __future__ import annotations

from load.scenarios.base import Scenario
from load.scenarios.contention import Contention
from load.scenarios.fanout import Fanout
from load.scenarios.initial_sync import InitialSync
from load.scenarios.offline_burst import OfflineBurst
from load.scenarios.steady import Steady

SCENARIOS: dict[str, type[Scenario]] = {
    cls.name: cls for cls in (Steady, OfflineBurst, Contention, Fanout, InitialSync)
}
