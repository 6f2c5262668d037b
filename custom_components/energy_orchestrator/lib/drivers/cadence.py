"""How often a kind of value is read.

Power moves every second; settings, counters and identity hardly move. Each
point or query a driver reads has a cadence, and a poll reads what is due.
Nobody sets a scan interval: the cadences are the integration's.
"""

from enum import IntEnum


class Cadence(IntEnum):
    """A polling cadence; the value is its period in seconds."""

    # Power, voltages, currents, state of charge, modes.
    FAST = 5
    # Energy counters, settings, limits, temperatures of slow things.
    SLOW = 60


ALL_CADENCES: frozenset[Cadence] = frozenset(Cadence)
