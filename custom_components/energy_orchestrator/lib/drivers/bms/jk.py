"""A JK BMS of the PB series (JK-PB...), on its RS485 port.

See ``jk_protocol`` for the protocol and why it is this one. ``unit`` is the
BMS's address on the bus (its DIP switches; 1 alone); the port runs at
115200 baud.

Readings: from the cell data record (fast) voltage, current (> 0 charging),
power as voltage times current (the record's own power field has no sign),
SOC, the highest of the battery's temperature sensors (the MOSFETs' own is
not the battery's), cell extremes over the connected cells, remaining and
nominal capacity, cycles and state of health. From the settings record
(slow) the limits: charge voltage = the cell voltage the BMS requests from
chargers times the cells, discharge voltage = the cell undervoltage
protection times the cells, and the maximum charge and discharge currents.

Identity: model, serial number and software version from the device
information record.
"""

from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict
import time
from typing import ClassVar

from ..base import MAIN, Poll
from ..cadence import Cadence
from ..errors import BadResponseError, DeviceError, LinkError, WrongDeviceError
from ..transport.serial_link import SerialLink
from ..values import Identity
from .common import SerialBmsDriver
from .jk_protocol import (
    CellData,
    DeviceInfo,
    Record,
    Settings,
    decode_answer,
    encode_request,
    frame_end,
    parse_cell_data,
    parse_device_info,
    parse_settings,
)

DEFAULT_ADDRESS = 1
DEFAULT_BAUDRATE = 115200

CELL_DATA_KEYS: tuple[str, ...] = (
    "battery_voltage",
    "battery_current",
    "battery_power",
    "battery_soc",
    "battery_temperature",
    "cell_voltage_min",
    "cell_voltage_max",
    "battery_remaining_capacity",
    "battery_capacity",
    "battery_cycles",
    "battery_soh",
)
SETTINGS_KEYS: tuple[str, ...] = (
    "battery_charge_voltage_limit",
    "battery_discharge_voltage_limit",
    "battery_charge_current_limit",
    "battery_discharge_current_limit",
)


def cell_data_values(data: CellData) -> dict[str, float | None]:
    """Return a cell data record's values under canonical keys."""
    return {
        "battery_voltage": data.voltage,
        "battery_current": data.current,
        "battery_power": data.voltage * data.current,
        "battery_soc": data.soc,
        "battery_temperature": max(data.temperatures, default=None),
        "cell_voltage_min": min(data.cell_voltages, default=None),
        "cell_voltage_max": max(data.cell_voltages, default=None),
        "battery_remaining_capacity": data.remaining_capacity,
        "battery_capacity": data.nominal_capacity,
        "battery_cycles": data.cycles,
        "battery_soh": data.soh,
    }


def settings_values(settings: Settings) -> dict[str, float | None]:
    """Return the limits of a settings record under canonical keys."""
    return {
        "battery_charge_voltage_limit": settings.charge_voltage_limit,
        "battery_discharge_voltage_limit": settings.discharge_voltage_limit,
        "battery_charge_current_limit": settings.max_charge_current,
        "battery_discharge_current_limit": settings.max_discharge_current,
    }


class JkPbBms(SerialBmsDriver):
    """A JK PB series BMS at a bus address."""

    family: ClassVar[str] = "jk_pb"
    manufacturer: ClassVar[str] = "JK BMS"
    model: ClassVar[str] = "PB series"
    keys: ClassVar[tuple[str, ...]] = (*CELL_DATA_KEYS, *SETTINGS_KEYS)

    def __init__(
        self,
        link: SerialLink,
        unit: int = DEFAULT_ADDRESS,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Bind the driver to the BMS at ``unit``."""
        super().__init__(link, unit, wall_clock=wall_clock)
        self.device_info: DeviceInfo | None = None
        self.settings: Settings | None = None

    async def _read(self, record: Record) -> bytes:
        """Ask the BMS for a record and return it, checked."""
        raw = await self.link.transact(encode_request(self.unit, record), frame_end)
        return decode_answer(raw, self.unit, record)

    async def async_identify(self) -> Identity:
        """Read the device information record.

        Raises WrongDeviceError when something answers with bytes that are
        not a JK record.
        """
        try:
            info = parse_device_info(await self._read(Record.DEVICE_INFO))
        except BadResponseError as err:
            raise WrongDeviceError(
                f"address {self.unit} does not answer as a JK PB BMS: {err}"
            ) from err
        self.device_info = info
        self.sub_devices = []
        self.commands = {}
        model = info.model or self.model
        return Identity(
            manufacturer=self.manufacturer,
            model=model,
            # Boards without a serial number get one made of what they
            # report and never changes: model, manufacturing date, address.
            serial_number=info.serial_number
            or f"{model}-{info.manufacturing_date or 'undated'}-{self.unit:02X}",
            firmware=info.software_version or None,
        )

    async def async_poll(self, due: Collection[Cadence]) -> Poll:
        """Read the cell data (fast) and the settings with the limits (slow)."""
        poll = Poll()
        if Cadence.FAST in due:
            await self._poll_record(poll, Record.CELL_DATA, CELL_DATA_KEYS)
        if Cadence.SLOW in due:
            await self._poll_record(poll, Record.SETTINGS, SETTINGS_KEYS)
        return poll

    async def _poll_record(
        self, poll: Poll, record: Record, keys: tuple[str, ...]
    ) -> None:
        """Read one record into the poll; a failure goes into ``failed``."""
        try:
            raw = await self._read(record)
            if record is Record.CELL_DATA:
                values = cell_data_values(parse_cell_data(raw))
            else:
                self.settings = parse_settings(raw)
                values = settings_values(self.settings)
        except LinkError:
            raise
        except DeviceError as err:
            poll.failed[MAIN] = err
            self._attempt(poll, MAIN, keys)
            return
        self._put(poll, MAIN, values)

    def diagnostics(self) -> Mapping[str, object]:
        """Return the device information and settings read."""
        return {
            **super().diagnostics(),
            "device_info": asdict(self.device_info) if self.device_info else None,
            "settings": asdict(self.settings) if self.settings else None,
        }
