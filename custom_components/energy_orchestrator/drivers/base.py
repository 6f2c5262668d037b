"""What every driver offers the layers above."""

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
import time
from typing import ClassVar

from .errors import IllegalAddressError
from .registers import Point, ReadBlock, ReadPlanner, split_block
from .transport.modbus import ModbusLink
from .values import Identity, Reading, Readings, make_reading


class Driver(ABC):
    """A device family's code: identify the device, then read it.

    ``family`` is the id users type (``eo probe --family``) and the config
    flow stores. ``keys`` lists the canonical keys the family can report; a
    device reports the subset it really has.
    """

    family: ClassVar[str]
    manufacturer: ClassVar[str]
    model: ClassVar[str]
    keys: ClassVar[tuple[str, ...]]

    @abstractmethod
    async def async_identify(self) -> Identity:
        """Read who the device is; raise WrongDeviceError for another family."""

    @abstractmethod
    async def async_read(self) -> Readings:
        """Read every value the device has, in the common value model."""

    def diagnostics(self) -> Mapping[str, object]:
        """Return what the driver learned about the device, for support."""
        return {}


class ModbusDriver(Driver):
    """A driver for a device reached through a shared ``ModbusLink``."""

    points: ClassVar[tuple[Point, ...]]
    # Registers a device answers in one request.
    max_registers: ClassVar[int] = 125

    def __init__(
        self,
        link: ModbusLink,
        unit: int,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Bind the driver to a unit on a link."""
        self.link = link
        self.unit = unit
        self.planner = ReadPlanner(self.points, max_registers=self.max_registers)
        self._wall_clock = wall_clock

    async def async_read(self) -> Readings:
        """Read every point in as few requests as the device allows."""
        raw = await self.async_read_points()
        timestamp = self._wall_clock()
        readings: dict[str, Reading] = {}
        for key, value in raw.items():
            if value is not None and (reading := make_reading(key, value, timestamp)):
                readings[key] = reading
        return readings

    async def async_read_points(self) -> dict[str, float | None]:
        """Read and decode every point the planner knows of."""
        values: dict[str, float | None] = {}
        for block in list(self.planner.plan()):
            values.update(await self._read_block(block))
        return values

    async def _read_block(self, block: ReadBlock) -> dict[str, float | None]:
        """Read one block; on "illegal data address" split it and find why.

        A single point that fails is a hole. A block whose two halves both
        read at the first try failed on the gap between them, so the planner
        learns not to merge across it; where a half fails too, the cause lies
        inside that half and is learned there.
        """
        values, _ = await self._read_or_split(block)
        return values

    async def _read_or_split(
        self, block: ReadBlock
    ) -> tuple[dict[str, float | None], bool]:
        """Read a block, splitting on failure; say whether it read at once."""
        try:
            registers = await self.link.read_registers(
                self.unit, block.table, block.address, block.count
            )
        except IllegalAddressError:
            if len(block.points) == 1:
                self.planner.mark_hole(block.points[0])
                return {}, False
            first, second = split_block(block)
            first_values, first_whole = await self._read_or_split(first)
            second_values, second_whole = await self._read_or_split(second)
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
        }
