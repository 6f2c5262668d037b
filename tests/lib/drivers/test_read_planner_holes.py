"""Holes are learned from lasting refusals, not from a device's passing state.

A device rebooting or an inverter asleep at night answers "illegal data
address" (exception 2) to everything for a while; its readings must come
back with it. A register the device really lacks is refused while the rest
answers, poll after poll, and only then left out of the plan.
"""

from typing import cast

from custom_components.energy_orchestrator.lib.drivers.cadence import ALL_CADENCES
from custom_components.energy_orchestrator.lib.drivers.eastron import (
    SDM630,
    SDM630_POINTS,
)
from custom_components.energy_orchestrator.lib.drivers.errors import (
    IllegalAddressError,
)
from custom_components.energy_orchestrator.lib.drivers.registers import (
    HOLE_AFTER_S,
    RegisterTable,
)
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)

NEUTRAL = next(p for p in SDM630_POINTS if p.key == "ac_current_neutral")


class RefusingLink:
    """A link to a meter that refuses some addresses, or all while asleep."""

    def __init__(self) -> None:
        """Start awake, refusing nothing."""
        self.asleep = False
        self.missing: set[int] = set()

    async def read_registers(
        self, unit: int, table: RegisterTable, address: int, count: int
    ) -> list[int]:
        """Answer zeros, or refuse a request touching a missing address."""
        touched = set(range(address, address + count))
        if self.asleep or touched & self.missing:
            raise IllegalAddressError(2, f"unit {unit} refused {address}+{count}")
        return [0] * count


class Clock:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        """Start at the epoch."""
        self.now = 0.0

    def __call__(self) -> float:
        """Return the time now."""
        return self.now


def _meter(link: RefusingLink, clock: Clock) -> SDM630:
    return SDM630(cast(ModbusLink, link), 1, wall_clock=clock)


async def test_a_device_refusing_everything_for_a_while_loses_no_reading() -> None:
    """Eight polls of exception 2 over two minutes, then the meter is back whole."""
    link, clock = RefusingLink(), Clock()
    meter = _meter(link, clock)
    before = await meter.async_poll(ALL_CADENCES)
    link.asleep = True
    for _ in range(8):
        clock.now += 15
        asleep = await meter.async_poll(ALL_CADENCES)
        assert not asleep.readings
    link.asleep = False
    clock.now += 15
    after = await meter.async_poll(ALL_CADENCES)
    assert set(after.readings) == set(before.readings)
    assert not meter.planner.holes
    assert meter.available_keys() == {p.key for p in SDM630_POINTS}


async def test_a_register_refused_while_the_rest_answers_becomes_a_hole() -> None:
    """Refused alone for over a minute: a hole, no longer asked for."""
    link, clock = RefusingLink(), Clock()
    link.missing = set(range(NEUTRAL.address, NEUTRAL.end))
    meter = _meter(link, clock)
    first = await meter.async_poll(ALL_CADENCES)
    assert "ac_current_neutral" not in first.readings
    assert "ac_current_neutral" in meter.planner.suspects
    assert not meter.planner.holes
    while clock.now <= HOLE_AFTER_S:
        clock.now += 20
        await meter.async_poll(ALL_CADENCES)
    assert meter.planner.holes == {"ac_current_neutral"}
    assert "ac_current_neutral" not in meter.available_keys()


async def test_a_suspect_that_answers_again_is_cleared() -> None:
    """Refused once, answered the next poll: read again with the rest."""
    link, clock = RefusingLink(), Clock()
    link.missing = set(range(NEUTRAL.address, NEUTRAL.end))
    meter = _meter(link, clock)
    await meter.async_poll(ALL_CADENCES)
    link.missing = set()
    clock.now += 5
    poll = await meter.async_poll(ALL_CADENCES)
    assert "ac_current_neutral" in poll.readings
    assert not meter.planner.suspects
    assert not meter.planner.holes


async def test_setup_learns_a_missing_register_at_once() -> None:
    """Right after the device said who it is, what it refuses it lacks."""
    link, clock = RefusingLink(), Clock()
    link.missing = set(range(NEUTRAL.address, NEUTRAL.end))
    meter = _meter(link, clock)
    await meter.async_read_points()
    assert meter.planner.holes == {"ac_current_neutral"}
