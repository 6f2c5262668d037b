"""Eastron SDM120 (single phase) and SDM72D-M V2 (three phase) energy meters.

Same protocol as the SDM630 (``eastron.py``): IEEE 754 floats in two input
registers, most significant first, at the same addresses for the same
quantity on every Eastron model; at most 80 registers a request; the serial
number in holding registers 0xFC00-0xFC01. What differs is which registers a
model has. The tables below list them as reaper7's SDM_Energy_Meter library
does (its SDM.h, which restates Eastron's per-model protocol documents;
tests/fixtures/eastron/ holds the table and the test checks these against
it).

Telling the models apart, robustly:

- SDM120 (one phase): it has neither a second phase nor line-to-line
  voltages. A unit whose L2 voltage register (0x0002) or L1-L2 voltage
  register (0x00C8) reads more than 1 V is a three-phase meter and is
  refused: an SDM630 or SDM72 wired to one phase still reads ~230 V
  between L1 and L2. Registers a meter lacks may answer "illegal data
  address" (Eastron's meters do) or 0 (some clones): neither shows a second
  phase, so neither is held against the meter.
- SDM72D-M V2 (three phase): it must answer the L2 voltage register (as the
  SDM630 must) and the import-power register 0x0500, which the SDM72 V2 has
  and the SDM630 and the older SDM72D do not; an SDM630 is pointed to its
  own family.
"""

from collections.abc import Mapping
from typing import ClassVar

from .base import ModbusDriver
from .cadence import Cadence
from .eastron import SDM630_POINTS, SERIAL_NUMBER, read_serial_number
from .errors import (
    DeviceRejectedError,
    IllegalAddressError,
    WrongDeviceError,
)
from .registers import DataType, Point, RegisterTable
from .values import Identity, make_reading

# Input registers (the first of each float's two) each model answers, from
# reaper7's table ("SDM120" and "SDM72 V2" columns).
SDM120_INPUT_REGISTERS: tuple[int, ...] = (
    *(0x00, 0x06, 0x0C, 0x12, 0x18, 0x1E),
    *(0x46, 0x48, 0x4A, 0x4C, 0x4E),
    *(0x156, 0x158),
)
SDM72_INPUT_REGISTERS: tuple[int, ...] = (
    *range(0x00, 0x24, 2),  # V, I, W, VA, var, PF per phase
    *(0x2A, 0x2E, 0x30, 0x34, 0x38, 0x3C, 0x3E),
    *(0x46, 0x48, 0x4A),
    *(0xC8, 0xCA, 0xCC, 0xCE, 0xE0),
    *(0x156, 0x158),
    *(0x180, 0x184, 0x186, 0x188, 0x18A, 0x18C, 0x18E),  # resettable, net
    *(0x500, 0x502),  # import and export power
)

_KWH = 1000.0
_LIVE_VOLTS = 1.0
_PHASE_2_VOLTAGE = 0x0002
_LINE_TO_LINE_VOLTAGE = 0x00C8
_FREQUENCY = 0x0046
_SDM72_IMPORT_POWER = 0x0500

_SDM630_BY_ADDRESS: Mapping[int, Point] = {p.address: p for p in SDM630_POINTS}


def _float(key: str, address: int, cadence: Cadence = Cadence.FAST) -> Point:
    """Return an input-register float point in the value model's units."""
    scale = _KWH if cadence is Cadence.SLOW else 1.0
    return Point(
        key, RegisterTable.INPUT, address, DataType.FLOAT32, scale, cadence=cadence
    )


# A single-phase meter's one phase is the whole connection: its power is
# grid_power, its VA, var and power factor the totals.
SDM120_POINTS: tuple[Point, ...] = (
    _float("ac_voltage_l1", 0x00),
    _float("ac_current_l1", 0x06),
    _float("grid_power", 0x0C),
    _float("grid_apparent_power", 0x12),
    _float("grid_reactive_power", 0x18),
    _float("grid_power_factor", 0x1E),
    _float("frequency", _FREQUENCY),
    _float("grid_import_energy", 0x48, Cadence.SLOW),
    _float("grid_export_energy", 0x4A, Cadence.SLOW),
)
# The SDM72 V2 reads what the SDM630 reads, at the same registers, except
# the per-phase energy counters it does not have.
SDM72_POINTS: tuple[Point, ...] = tuple(
    point for point in SDM630_POINTS if point.address in SDM72_INPUT_REGISTERS
)


class EastronMeter(ModbusDriver):
    """What the SDM120 and SDM72 share: serial number, plausibility, limits."""

    manufacturer: ClassVar[str] = "Eastron"
    max_registers: ClassVar[int] = 80

    async def async_read_serial_number(self) -> str | None:
        """Return the serial number, one request of two registers."""
        return await read_serial_number(self.link, self.unit)

    async def _read_float(self, address: int) -> float | None:
        """Read one input-register float; raise IllegalAddressError if absent."""
        point = Point("", RegisterTable.INPUT, address, DataType.FLOAT32)
        return point.decode(
            await self.link.read_registers(self.unit, point.table, address, 2)
        )

    async def _read_optional_float(self, address: int) -> float | None:
        """Read a float the meter may lack; None for "illegal data address"."""
        try:
            return await self._read_float(address)
        except IllegalAddressError:
            return None

    async def _identify_common(self) -> str:
        """Read the serial number and check frequency and L1 voltage.

        Returns the serial number. A device of another kind answers with
        exceptions or numbers no meter reads.
        """
        try:
            words = await self.link.read_registers(
                self.unit, SERIAL_NUMBER.table, SERIAL_NUMBER.address, 2
            )
            voltage = await self._read_float(0x0000)
            hertz = await self._read_float(_FREQUENCY)
        except IllegalAddressError as err:
            raise WrongDeviceError(
                f"unit {self.unit} lacks registers every {self.model} has ({err})"
            ) from err
        except DeviceRejectedError as err:
            raise WrongDeviceError(
                f"unit {self.unit} rejects the {self.model}'s requests ({err})"
            ) from err
        serial = SERIAL_NUMBER.decode(words)
        if not serial or serial >= 0xFFFFFFFF:
            raise WrongDeviceError(f"unit {self.unit} reports no serial number")
        plausible_frequency = hertz is not None and (hertz == 0 or 40 <= hertz <= 70)
        if (
            not plausible_frequency
            or voltage is None
            or not make_reading("ac_voltage_l1", voltage, 0)
        ):
            raise WrongDeviceError(
                f"unit {self.unit} answers, but with values no {self.model} reads"
                f" (frequency {hertz}, L1 voltage {voltage})"
            )
        return str(int(serial))

    def _identity(self, serial: str) -> Identity:
        """Return the meter's identity."""
        return Identity(
            manufacturer=self.manufacturer, model=self.model, serial_number=serial
        )


class SDM120(EastronMeter):
    """Eastron SDM120 single-phase meter (also the SDM120CT, same registers read)."""

    family: ClassVar[str] = "sdm120"
    model: ClassVar[str] = "SDM120"
    points: ClassVar[tuple[Point, ...]] = SDM120_POINTS
    keys: ClassVar[tuple[str, ...]] = tuple(p.key for p in SDM120_POINTS)

    async def async_identify(self) -> Identity:
        """Check it is an Eastron meter with one phase, and read its serial."""
        serial = await self._identify_common()
        for address, what in (
            (_PHASE_2_VOLTAGE, "an L2 voltage"),
            (_LINE_TO_LINE_VOLTAGE, "an L1-L2 voltage"),
        ):
            try:
                volts = await self._read_optional_float(address)
            except DeviceRejectedError:
                volts = None
            if volts is not None and abs(volts) > _LIVE_VOLTS:
                raise WrongDeviceError(
                    f"unit {self.unit} reads {what} of {volts:.0f} V: it is a"
                    " three-phase meter (an SDM630 or SDM72), not an SDM120"
                )
        return self._identity(serial)


class SDM72(EastronMeter):
    """Eastron SDM72D-M V2 three-phase meter."""

    family: ClassVar[str] = "sdm72"
    model: ClassVar[str] = "SDM72D-M V2"
    points: ClassVar[tuple[Point, ...]] = SDM72_POINTS
    keys: ClassVar[tuple[str, ...]] = tuple(p.key for p in SDM72_POINTS)

    async def async_identify(self) -> Identity:
        """Check it is a three-phase Eastron with the SDM72 V2's registers."""
        serial = await self._identify_common()
        try:
            phase2 = await self._read_float(_PHASE_2_VOLTAGE)
        except IllegalAddressError as err:
            raise WrongDeviceError(
                f"unit {self.unit} has no L2 voltage register: a single-phase"
                " meter (an SDM120?), not an SDM72"
            ) from err
        if phase2 is None or not make_reading("ac_voltage_l2", phase2, 0):
            raise WrongDeviceError(
                f"unit {self.unit} reads an L2 voltage no meter reads ({phase2})"
            )
        try:
            await self._read_float(_SDM72_IMPORT_POWER)
        except IllegalAddressError as err:
            raise WrongDeviceError(
                f"unit {self.unit} has no import-power register (0x0500) as the"
                " SDM72 V2 has: an SDM630 (use its own family) or an older SDM72D"
            ) from err
        return self._identity(serial)
