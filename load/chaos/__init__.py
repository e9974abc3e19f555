"""The chaos mix (``--mix chains,ops,slow,hostile`` or ``--chaos``): what the randomized
convergence run adds to the ``contention`` and ``offline-burst`` scenarios."""

from __future__ import annotations

MIXES = ("chains", "ops", "slow", "hostile")


def parse_mix(text: str) -> frozenset[str]:
    """``"all"`` or a comma-separated subset of MIXES; raises ValueError naming the bad one."""
    names = {n.strip() for n in text.split(",") if n.strip()}
    if names == {"all"}:
        return frozenset(MIXES)
    unknown = sorted(names - set(MIXES))
    if unknown:
        raise ValueError(f"unknown --mix {', '.join(unknown)} (choose from all, "
                         f"{', '.join(MIXES)})")
    return frozenset(names)
