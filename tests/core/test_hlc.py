"""The server's hybrid logical clock: its own stamps come after every stamp it accepted,
and a stamp too far ahead of server time is clamped."""

from __future__ import annotations

from syncserver.model import hlc

WALL_MS = 1_700_000_000_000


def stamp(ms: int, counter: int, node: str = "c1") -> str:
    return f"{ms:013d}:{counter:05d}:{node}"


def clock(wall_ms: int = WALL_MS, drift_ms: int = 60_000) -> hlc.Clock:
    return hlc.Clock(drift_ms, wall=lambda: wall_ms / 1000)


def test_own_stamps_follow_every_accepted_stamp_in_any_order() -> None:
    c = clock()
    received = [stamp(WALL_MS + 5_000, 3), stamp(WALL_MS + 9_000, 7), stamp(WALL_MS + 1, 99)]
    for s in received:
        assert c.receive(s) == (s, False)
    own = str(c.now())
    assert own > max(received)
    assert own == stamp(WALL_MS + 9_000, 8, "server")
    assert str(c.now()) > own  # and each other


def test_a_stamp_beyond_the_drift_bound_is_clamped_to_a_server_stamp_with_its_node() -> None:
    c = clock(drift_ms=1_000)
    accepted = stamp(WALL_MS + 1_000, 0)  # exactly at the bound
    assert c.receive(accepted) == (accepted, False)
    clamped, was_clamped = c.receive(stamp(WALL_MS + 1_001, 0, "fast-node"))
    assert was_clamped
    assert clamped == stamp(WALL_MS + 1_000, 1, "fast-node")  # after the accepted one
    assert hlc.valid(clamped)


def test_the_ceiling_taken_once_per_batch_is_the_same_bound() -> None:
    c = clock(drift_ms=500)
    ceiling = c.ceiling()
    assert ceiling == f"{WALL_MS + 500:013d}"
    assert c.receive(stamp(WALL_MS + 501, 0), ceiling)[1]
    assert not c.receive(stamp(WALL_MS + 500, 0), ceiling)[1]


def test_a_full_counter_borrows_the_next_millisecond() -> None:
    c = clock()
    c.receive(stamp(WALL_MS, hlc.MAX_COUNTER))
    own = c.now()
    assert (own.ms, own.counter) == (WALL_MS + 1, 0)
    assert str(own) > stamp(WALL_MS, hlc.MAX_COUNTER)


def test_stamps_without_a_seen_one_follow_the_wall_clock() -> None:
    c = clock()
    first, second = c.now(), c.now()
    assert (first.ms, first.counter) == (WALL_MS, 0)
    assert (second.ms, second.counter) == (WALL_MS, 1)
