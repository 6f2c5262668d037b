"""A simulated Eastron SDM630 whose registers follow a live value source.

Its input registers answer with the gaps of Eastron's register table
("illegal data address" between the blocks), its holding registers with the
settings block and the serial number; ``eastron_variants`` builds the SDM120
and SDM72D-M V2 on it.
"""

from collections.abc import Callable, Iterable, Mapping

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from custom_components.energy_orchestrator.lib.drivers.eastron import (
    SDM630_POINTS,
    SERIAL_NUMBER,
)
from custom_components.energy_orchestrator.lib.drivers.registers import (
    Point,
    RegisterTable,
)
from eo_lab.sim.servers import silent_device

# Input registers an SDM630 answers (end exclusive). Everything between is
# "illegal data address", as on the real meter: Eastron's table has gaps.
SDM630_INPUT_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0050),
    (0x0054, 0x0070),
    (0x00C8, 0x00D0),
    (0x00E0, 0x00E2),
    (0x00EA, 0x00FC),
    (0x00FE, 0x0100),
    (0x0102, 0x010E),
    (0x014E, 0x017E),
)
# Holding registers: the meter's settings, and its serial number at 0xFC00.
SDM630_HOLDING_RANGES: tuple[tuple[int, int], ...] = ((0x0000, 0x0030),)
SDM630_SERIAL_RANGE = (0xFC00, 0xFC04)

_READ_INPUT = 4
_BIT_FUNCTIONS = frozenset({1, 2, 5, 15})
# The unit id ``device`` builds the meter at; ``serve_devices`` serves it at its own.
_DEVICE_UNIT = 1


def zeroed_registers(ranges: Iterable[tuple[int, int]]) -> list[SimData]:
    """Return SimData blocks of zeroed registers covering address ranges."""
    return [
        SimData(start, count=end - start, datatype=DataType.UINT16)
        for start, end in ranges
        if end > start
    ]


def without_addresses(
    ranges: Iterable[tuple[int, int]], holes: Iterable[int]
) -> list[tuple[int, int]]:
    """Return address ranges with single addresses cut out of them."""
    cuts = sorted(set(holes))
    result: list[tuple[int, int]] = []
    for start, end in ranges:
        begin = start
        for hole in cuts:
            if begin <= hole < end:
                result.append((begin, hole))
                begin = hole + 1
        result.append((begin, end))
    return [(start, end) for start, end in result if end > start]


class SDM630Emulator:
    """An Eastron SDM630 whose input registers follow a live value source.

    ``values_fn`` returns the meter's values by canonical key (the keys of
    ``SDM630_POINTS``, in the value model's units); it is called once per
    read request, so every request answers the site's state at that moment.
    A key it lacks reads 0, as do registers no point covers. ``holes`` makes
    more input registers illegal (remove the L2/L3 voltages and the unit
    looks single-phase); ``silent`` makes the unit never answer.
    """

    manufacturer = "Eastron"
    model = "SDM630"

    def __init__(
        self,
        serial_number: int,
        values_fn: Callable[[], Mapping[str, float]],
        *,
        holes: Iterable[int] = (),
        silent: bool = False,
    ) -> None:
        """Describe the meter; build its Modbus device with ``sim_device``."""
        self.serial_number = serial_number
        self.values_fn = values_fn
        self.holes = frozenset(holes)
        self.silent = silent
        self.requests = 0
        self._input_points: tuple[Point, ...] = tuple(
            sorted(
                (p for p in SDM630_POINTS if p.table is RegisterTable.INPUT),
                key=lambda p: p.address,
            )
        )

    @property
    def description(self) -> str:
        """Return the meter as a user would name it."""
        return f"{self.manufacturer} {self.model}, serial {self.serial_number}"

    @property
    def device(self) -> SimDevice:
        """Return the meter as a pymodbus device (``serve_devices`` sets its id)."""
        return self.sim_device(_DEVICE_UNIT)

    def sim_device(self, unit: int) -> SimDevice:
        """Return the pymodbus device that serves this meter at ``unit``."""
        if self.silent:
            return silent_device(unit)
        serial_words = SERIAL_NUMBER.encode(self.serial_number)
        serial_start, serial_end = SDM630_SERIAL_RANGE
        padding = [0] * (serial_end - serial_start - len(serial_words))
        holding = [
            *zeroed_registers(SDM630_HOLDING_RANGES),
            SimData(
                serial_start,
                values=serial_words + padding,
                datatype=DataType.UINT16,
                readonly=True,
            ),
        ]
        inputs = zeroed_registers(without_addresses(SDM630_INPUT_RANGES, self.holes))
        # pymodbus wants a block per table; a meter has no coils, and the
        # action answers "illegal function" to any request for bits.
        bits = [SimData(0, values=0, datatype=DataType.BITS)]
        return SimDevice(
            id=unit,
            simdata=(bits, list(bits), holding, inputs),
            action=self._action,
        )

    async def _action(  # noqa: PLR0917 - pymodbus' SimAction signature
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Fill the requested input registers from the live values.

        pymodbus checks the addresses after this returns, so a request that
        touches an illegal register still gets "illegal data address".
        """
        self.requests += 1
        if function_code in _BIT_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        if function_code != _READ_INPUT:
            return None
        end = address + count
        values = self.values_fn()
        for point in self._input_points:
            if point.end <= address or point.address >= end:
                continue
            offset = point.address - start_address
            words = point.encode(values.get(point.key, 0.0))
            registers[offset : offset + len(words)] = words
        return None
