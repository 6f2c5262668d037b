"""What every driver offers the layers above, and the way commands reach it.

``execute`` is the one place every command passes through: controllers and
entities never call a driver's ``async_apply`` themselves.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
import time
from typing import ClassVar

from .cadence import ALL_CADENCES, Cadence
from .commands import (
    Command,
    CommandKind,
    CommandNotConfirmedError,
    CommandRejectedError,
    CommandSpec,
    check,
)
from .errors import DeviceError, IllegalAddressError
from .registers import Point, ReadBlock, ReadPlanner, split_block
from .transport.link import Link
from .transport.modbus import ModbusLink
from .values import Identity, Reading, Readings, make_reading

# The part of a device that is the device itself, as opposed to a sub-device.
MAIN = ""


class SubDeviceKind(StrEnum):
    """What a sub-device is, so the names of its values need not say it again.

    The value is the prefix of the canonical keys the kind makes redundant:
    a PV input's ``pv_power`` is its power, a pack's ``battery_current`` its
    current, a meter's ``grid_power`` its power.
    """

    PV = "pv"
    BATTERY = "battery"
    METER = "grid"
    OTHER = ""


@dataclass(frozen=True, slots=True)
class SubDevice:
    """A part of a device with values of its own (an MPPT, a pack, a meter).

    ``key`` prefixes its values' keys (``"mppt1/pv_power"``). ``name`` is
    the part's name within its device ("PV1", "Pack 2"); ``model`` what the
    part is, None where the device does not say.
    """

    key: str
    name: str
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware: str | None = None
    kind: SubDeviceKind = SubDeviceKind.OTHER


@dataclass(slots=True)
class Poll:
    """What one poll got out of a device.

    ``attempted`` are the keys the poll asked for: any of them missing from
    ``readings`` is gone (unavailable), while keys not attempted keep the
    value of the poll that last read them. ``failed`` maps a part (``MAIN``
    or a sub-device key) that did not answer to what went wrong.
    ``settings`` are command settings the poll read along the way, for a
    device whose settings change on their own (a wallbox's setpoint that
    runs out); other settings are read back after each command only.
    """

    readings: dict[str, Reading] = field(default_factory=dict)
    attempted: set[str] = field(default_factory=set)
    failed: dict[str, DeviceError] = field(default_factory=dict)
    settings: dict[CommandKind, float | str] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        """Return whether any part of the device answered."""
        return bool(self.readings) or not self.failed


class Driver(ABC):
    """A device family's code: identify the device, then read and command it.

    ``family`` is the id users type (``eo probe --family``) and the config
    flow stores. ``keys`` lists the canonical keys the family can report on
    the device itself; sub-devices found by ``async_identify`` add theirs.
    """

    family: ClassVar[str]
    manufacturer: ClassVar[str]
    model: ClassVar[str]
    keys: ClassVar[tuple[str, ...]]
    # The device protocol's own queries a client may ask by name (PI30's
    # QPIGS), answered decoded by ``async_query``.
    raw_queries: ClassVar[tuple[str, ...]] = ()
    link: Link

    def __init__(self, *, wall_clock: Callable[[], float] = time.time) -> None:
        """Start knowing nothing about the device beyond its family."""
        self.sub_devices: list[SubDevice] = []
        self.commands: dict[CommandKind, CommandSpec] = {}
        self._wall_clock = wall_clock

    @abstractmethod
    async def async_identify(self) -> Identity:
        """Read who the device is and what it has; raise WrongDeviceError.

        Fills ``sub_devices`` and ``commands`` with what this very device has.
        """

    @abstractmethod
    async def async_poll(self, due: Collection[Cadence]) -> Poll:
        """Read the values whose cadence is due.

        Raises a driver error only when the device itself cannot be reached;
        a silent sub-device is reported in ``Poll.failed``.
        """

    async def async_read(self) -> Readings:
        """Read every value; raise the device's error if nothing answered."""
        poll = await self.async_poll(ALL_CADENCES)
        if not poll.answered:
            raise next(iter(poll.failed.values()))
        return poll.readings

    def available_keys(self) -> set[str]:
        """Return the keys this device has, sub-devices included."""
        return set(self.keys)

    @property
    def connects(self) -> int:
        """Return how often the link to the device was (re)established.

        A reconnect is when another device may have taken this one's place,
        so the identity is read again after one.
        """
        return self.link.stats.connects

    async def async_apply(self, command: Command) -> None:
        """Send a checked command; only ``execute`` calls this."""
        raise CommandRejectedError(f"this device does not take {command.kind} commands")

    async def async_query(self, query: str) -> dict[str, tuple[float | str, str]]:
        """Ask one of ``raw_queries``; return its fields as (value, unit).

        A field the device leaves empty is absent.
        """
        raise CommandRejectedError(f"this device answers no {query} query")

    async def async_release(self, kind: CommandKind) -> bool:
        """Hand a control back to the device's own logic; say whether it could.

        A device whose command can be switched off (a SunSpec limit's enable)
        does it here; elsewhere this returns False and whoever wrote the
        setting writes back the one it found (``eo node``'s fail-safe).
        """
        return False

    async def async_read_serial_number(self) -> str | None:
        """Return the serial number read in one request; None where that costs more.

        Read with every poll, it tells at once when another device answers at
        the address (a gateway re-mapped, a unit id swapped).
        """
        return None

    async def async_read_back(self, command: Command) -> float | str:
        """Read back the setting a command changed."""
        raise CommandRejectedError(f"this device does not take {command.kind} commands")

    def diagnostics(self) -> Mapping[str, object]:
        """Return what the driver learned about the device, for support."""
        return {}

    def _reading(self, key: str, value: float | str | None) -> Reading | None:
        """Return a reading stamped now, or None for an absent or bad value."""
        if value is None:
            return None
        return make_reading(key, value, self._wall_clock())


class ModbusDriver(Driver):
    """A driver for a device reached through a shared ``ModbusLink``."""

    points: ClassVar[tuple[Point, ...]]
    # Registers a device answers in one request.
    max_registers: ClassVar[int] = 125
    link: ModbusLink

    def __init__(
        self,
        link: ModbusLink,
        unit: int,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Bind the driver to a unit on a link."""
        super().__init__(wall_clock=wall_clock)
        self.link = link
        self.unit = unit
        self.planner = ReadPlanner(self.points, max_registers=self.max_registers)

    def available_keys(self) -> set[str]:
        """Return the keys of every point the device did not refuse."""
        return {p.key for p in self.planner.points} - self.planner.holes

    async def async_poll(self, due: Collection[Cadence]) -> Poll:
        """Read every block holding a point that is due.

        Blocks are planned over all points, so a slow point that shares a
        request with fast ones is read along for free.
        """
        poll = Poll()
        values, poll.attempted = await self.async_read_due(due)
        for key, value in values.items():
            if (reading := self._reading(key, value)) is not None:
                poll.readings[key] = reading
        return poll

    async def async_read_due(
        self, due: Collection[Cadence]
    ) -> tuple[dict[str, float | None], set[str]]:
        """Read the blocks holding a due point; return values and keys asked for.

        A point refused while others answered is a suspect, a hole only once
        the refusals last (``ReadPlanner.note_refused``); refused along with
        everything else, it is the device's passing state and nothing is
        learned.
        """
        values: dict[str, float | None] = {}
        attempted: set[str] = set()
        refused: list[Point] = []
        for block in list(self.planner.plan()):
            if not any(point.cadence in due for point in block.points):
                continue
            attempted.update(point.key for point in block.points)
            values.update(await self._read_block(block, refused))
        self.planner.note_answered(values)
        if values:
            now = self._wall_clock()
            for point in refused:
                self.planner.note_refused(point, now)
        return values, attempted

    async def async_read_points(self) -> dict[str, float | None]:
        """Read and decode every point; a point refused alone is a hole at once.

        This is how a device is set up: what it refuses right after telling
        who it is, it does not have.
        """
        values: dict[str, float | None] = {}
        refused: list[Point] = []
        for block in list(self.planner.plan()):
            values.update(await self._read_block(block, refused))
        for point in refused:
            self.planner.mark_hole(point)
        return values

    async def _read_block(
        self, block: ReadBlock, refused: list[Point]
    ) -> dict[str, float | None]:
        """Read one block; on "illegal data address" split it and find why.

        A single point that fails goes to ``refused``. A block whose two
        halves both read at the first try failed on the gap between them, so
        the planner learns not to merge across it; where a half fails too,
        the cause lies inside that half and is learned there.
        """
        values, _ = await self._read_or_split(block, refused)
        return values

    async def _read_or_split(
        self, block: ReadBlock, refused: list[Point]
    ) -> tuple[dict[str, float | None], bool]:
        """Read a block, splitting on failure; say whether it read at once."""
        try:
            registers = await self.link.read_registers(
                self.unit, block.table, block.address, block.count
            )
        except IllegalAddressError:
            if len(block.points) == 1:
                refused.append(block.points[0])
                return {}, False
            first, second = split_block(block)
            first_values, first_whole = await self._read_or_split(first, refused)
            second_values, second_whole = await self._read_or_split(second, refused)
            if first_whole and second_whole:
                self.planner.mark_break(second.address)
            return {**first_values, **second_values}, False
        return block.values(registers), True

    def diagnostics(self) -> Mapping[str, object]:
        """Return the read plan and the holes found."""
        return {
            "unit": self.unit,
            "read_plan": [
                {"table": b.table.name.lower(), "address": b.address, "count": b.count}
                for b in self.planner.plan()
            ],
            "holes": sorted(self.planner.holes),
            "breaks": sorted(self.planner.breaks),
            "link": str(self.link.endpoint),
            "link_stats": asdict(self.link.stats),
        }


async def execute(driver: Driver, command: Command) -> float | str:
    """Check, send and confirm a command; return the value read back.

    Raises CommandRejectedError before anything is sent when the command is
    not allowed, a driver error when the device cannot be reached, and
    CommandNotConfirmedError when the read-back disagrees.
    """
    spec = driver.commands.get(command.kind)
    value = check(spec, command)
    assert spec is not None
    checked = Command(command.kind, value, command.target)
    await driver.async_apply(checked)
    actual = await driver.async_read_back(checked)
    if isinstance(value, str) or isinstance(actual, str):
        confirmed = actual == value
    else:
        confirmed = abs(actual - value) <= spec.tolerance + 1e-9
    if not confirmed:
        raise CommandNotConfirmedError(
            f"{command.kind} was sent as {value!r} but reads back as {actual!r}"
        )
    return actual
