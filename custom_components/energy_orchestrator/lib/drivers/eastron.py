"""Eastron SDM630 three-phase energy meter (Modbus RTU, often behind a gateway).

Register facts from Eastron's "SDM630 Modbus Protocol V1.8": every value is an
IEEE 754 float in two input registers (function 04), most significant register
first; at most 40 values (80 registers) per request; the serial number is an
unsigned 32-bit integer in holding registers 0xFC00-0xFC01 (function 03).

As grid meter, its total system power is ``grid_power``: the meter counts
forward (import) power as positive, the same sign as the value model.
"""

from typing import ClassVar

from .base import ModbusDriver
from .cadence import Cadence
from .errors import (
    DeviceRejectedError,
    IllegalAddressError,
    WrongDeviceError,
)
from .registers import DataType, Point, RegisterTable
from .transport.modbus import ModbusLink
from .values import Identity, make_reading

_KWH = 1000.0  # the meter counts kWh, the value model Wh


def _float(key: str, address: int, scale: float = 1.0) -> Point:
    """Return an input-register float point, read at the fast cadence."""
    return Point(key, RegisterTable.INPUT, address, DataType.FLOAT32, scale)


def _counter(key: str, address: int) -> Point:
    """Return an energy counter in kWh, read at the slow cadence.

    The totals share a request with the powers and ride along with every
    fast poll anyway; the per-phase counters are a request of their own that
    only the slow cadence pays for.
    """
    return Point(
        key, RegisterTable.INPUT, address, DataType.FLOAT32, _KWH, cadence=Cadence.SLOW
    )


SERIAL_NUMBER = Point("serial_number", RegisterTable.HOLDING, 0xFC00, DataType.UINT32)

SDM630_POINTS: tuple[Point, ...] = (
    _float("ac_voltage_l1", 0x0000),
    _float("ac_voltage_l2", 0x0002),
    _float("ac_voltage_l3", 0x0004),
    _float("ac_current_l1", 0x0006),
    _float("ac_current_l2", 0x0008),
    _float("ac_current_l3", 0x000A),
    _float("grid_power_l1", 0x000C),
    _float("grid_power_l2", 0x000E),
    _float("grid_power_l3", 0x0010),
    _float("ac_power_factor_l1", 0x001E),
    _float("ac_power_factor_l2", 0x0020),
    _float("ac_power_factor_l3", 0x0022),
    _float("grid_power", 0x0034),
    _float("grid_apparent_power", 0x0038),
    _float("grid_reactive_power", 0x003C),
    _float("grid_power_factor", 0x003E),
    _float("frequency", 0x0046),
    _counter("grid_import_energy", 0x0048),
    _counter("grid_export_energy", 0x004A),
    _float("ac_voltage_l1_l2", 0x00C8),
    _float("ac_voltage_l2_l3", 0x00CA),
    _float("ac_voltage_l3_l1", 0x00CC),
    _float("ac_current_neutral", 0x00E0),
    _counter("grid_import_energy_l1", 0x015A),
    _counter("grid_import_energy_l2", 0x015C),
    _counter("grid_import_energy_l3", 0x015E),
    _counter("grid_export_energy_l1", 0x0160),
    _counter("grid_export_energy_l2", 0x0162),
    _counter("grid_export_energy_l3", 0x0164),
)

# A single-phase Eastron (SDM120, SDM230) has no register here.
_PHASE_2_VOLTAGE = SDM630_POINTS[1]
_FREQUENCY = next(p for p in SDM630_POINTS if p.key == "frequency")


async def read_serial_number(link: ModbusLink, unit: int) -> str | None:
    """Return an Eastron meter's serial number, read in one request."""
    words = await link.read_registers(
        unit, SERIAL_NUMBER.table, SERIAL_NUMBER.address, 2
    )
    serial = SERIAL_NUMBER.decode(words)
    return None if serial is None else str(int(serial))


class SDM630(ModbusDriver):
    """Eastron SDM630 as the grid meter."""

    family: ClassVar[str] = "sdm630"
    manufacturer: ClassVar[str] = "Eastron"
    model: ClassVar[str] = "SDM630"
    points: ClassVar[tuple[Point, ...]] = SDM630_POINTS
    keys: ClassVar[tuple[str, ...]] = tuple(p.key for p in SDM630_POINTS)
    max_registers: ClassVar[int] = 80

    async def async_read_serial_number(self) -> str | None:
        """Return the serial number, one request of two registers."""
        return await read_serial_number(self.link, self.unit)

    async def async_identify(self) -> Identity:
        """Read the serial number and check the unit really is an SDM630.

        A device of another family answers these registers with an exception
        or with numbers no meter reads; either way it is not this family, and
        saying so beats showing its registers as voltages.
        """
        try:
            words = await self.link.read_registers(
                self.unit, SERIAL_NUMBER.table, SERIAL_NUMBER.address, 2
            )
            phase2 = await self.link.read_registers(
                self.unit, _PHASE_2_VOLTAGE.table, _PHASE_2_VOLTAGE.address, 2
            )
            frequency = await self.link.read_registers(
                self.unit, _FREQUENCY.table, _FREQUENCY.address, 2
            )
        except IllegalAddressError as err:
            raise WrongDeviceError(
                f"unit {self.unit} lacks registers every SDM630 has ({err});"
                " it is another kind of device, or a single-phase meter"
            ) from err
        except DeviceRejectedError as err:
            raise WrongDeviceError(
                f"unit {self.unit} rejects the SDM630's requests ({err})"
            ) from err
        serial = SERIAL_NUMBER.decode(words)
        if not serial or serial >= 0xFFFFFFFF:
            raise WrongDeviceError(f"unit {self.unit} reports no serial number")
        hertz = _FREQUENCY.decode(frequency)
        voltage = _PHASE_2_VOLTAGE.decode(phase2)
        plausible_frequency = hertz is not None and (hertz == 0 or 40 <= hertz <= 70)
        if (
            not plausible_frequency
            or voltage is None
            or not make_reading(_PHASE_2_VOLTAGE.key, voltage, 0)
        ):
            raise WrongDeviceError(
                f"unit {self.unit} answers, but with values no SDM630 reads"
                f" (frequency {hertz}, L2 voltage {voltage})"
            )
        return Identity(
            manufacturer=self.manufacturer,
            model=self.model,
            serial_number=str(int(serial)),
        )
