"""A Daly smart BMS on its UART or RS485 port (9600 baud).

See ``daly_protocol`` for the frames. ``unit`` is the board's address in its
answers (0x01, the master board). Identification asks for the SOC with the
host address of V1.2 of the protocol (0x40), then of V1.0 (0x80), and keeps
the one the board answers.

Readings: voltage, current (> 0 charging), power (their product) and SOC
(fast, 0x90), cell voltage extremes (fast, 0x91), the highest temperature
(slow, 0x92), remaining capacity (slow, 0x93) and cycles (slow, 0x94). The
protocol has no full capacity and no limits, so neither is reported.

Identity: the protocol carries no serial number or firmware version, so the
identity is made of what the board reports and does not change: its cell and
temperature sensor counts and its address (``16S1T-01``). Two boards with
the same counts and address on different ports look alike by it.
"""

from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
import time
from typing import ClassVar

from ..base import MAIN, Poll
from ..cadence import Cadence
from ..errors import (
    BadResponseError,
    DeviceError,
    DeviceSilentError,
    LinkError,
    WrongDeviceError,
)
from ..transport.serial_link import SerialLink
from ..values import Identity
from .common import SerialBmsDriver
from .daly_protocol import (
    HOST_ADDRESSES,
    MASTER_BOARD,
    DataId,
    Status,
    decode_frame,
    encode_request,
    frame_end_for,
    parse_cell_voltage_range,
    parse_mos_status,
    parse_soc,
    parse_status,
    parse_temperature_range,
)

DEFAULT_ADDRESS = MASTER_BOARD
DEFAULT_BAUDRATE = 9600

type Values = dict[str, float | None]


def _soc_values(data: bytes) -> Values:
    """Return the values of a 0x90 answer under canonical keys."""
    soc = parse_soc(data)
    return {
        "battery_voltage": soc.voltage,
        "battery_current": soc.current,
        "battery_power": soc.voltage * soc.current,
        "battery_soc": soc.soc,
    }


def _cell_values(data: bytes) -> Values:
    """Return the cell voltage extremes of a 0x91 answer."""
    cells = parse_cell_voltage_range(data)
    return {"cell_voltage_min": cells.lowest, "cell_voltage_max": cells.highest}


def _temperature_values(data: bytes) -> Values:
    """Return the highest temperature of a 0x92 answer."""
    return {"battery_temperature": parse_temperature_range(data).highest}


def _capacity_values(data: bytes) -> Values:
    """Return the remaining capacity of a 0x93 answer."""
    return {"battery_remaining_capacity": parse_mos_status(data).remaining_capacity}


def _status_values(data: bytes) -> Values:
    """Return the cycles of a 0x94 answer."""
    return {"battery_cycles": parse_status(data).cycles}


@dataclass(frozen=True, slots=True)
class Query:
    """One data ID a poll asks for, the canonical keys it gives and how."""

    data_id: DataId
    keys: tuple[str, ...]
    decode: Callable[[bytes], Values]


QUERIES: dict[Cadence, tuple[Query, ...]] = {
    Cadence.FAST: (
        Query(
            DataId.SOC,
            ("battery_voltage", "battery_current", "battery_power", "battery_soc"),
            _soc_values,
        ),
        Query(
            DataId.CELL_VOLTAGE_RANGE,
            ("cell_voltage_min", "cell_voltage_max"),
            _cell_values,
        ),
    ),
    Cadence.SLOW: (
        Query(DataId.TEMPERATURE_RANGE, ("battery_temperature",), _temperature_values),
        Query(DataId.MOS_STATUS, ("battery_remaining_capacity",), _capacity_values),
        Query(DataId.STATUS, ("battery_cycles",), _status_values),
    ),
}


class DalyBms(SerialBmsDriver):
    """A Daly smart BMS board."""

    family: ClassVar[str] = "daly"
    manufacturer: ClassVar[str] = "Daly"
    model: ClassVar[str] = "Smart BMS"
    keys: ClassVar[tuple[str, ...]] = tuple(
        key for queries in QUERIES.values() for query in queries for key in query.keys
    )

    def __init__(
        self,
        link: SerialLink,
        unit: int = DEFAULT_ADDRESS,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Bind the driver to the board answering as ``unit``."""
        super().__init__(link, unit, wall_clock=wall_clock)
        self.host_address = HOST_ADDRESSES[0]
        self.status: Status | None = None

    async def _ask(self, data_id: DataId, host: int | None = None) -> bytes:
        """Ask for one data ID and return the answer's eight data bytes."""
        raw = await self.link.transact(
            encode_request(self.host_address if host is None else host, data_id),
            frame_end_for(self.unit, data_id),
        )
        return decode_frame(raw, self.unit, data_id)

    async def async_identify(self) -> Identity:
        """Find the host address the board answers; read its cell counts.

        Raises WrongDeviceError when what answers is not a Daly board.
        """
        silent: DeviceSilentError | None = None
        for host in HOST_ADDRESSES:
            try:
                soc = parse_soc(await self._ask(DataId.SOC, host))
            except DeviceSilentError as err:
                silent = err
                continue
            except BadResponseError as err:
                raise WrongDeviceError(
                    f"board {self.unit} does not answer as a Daly BMS: {err}"
                ) from err
            if not 0 <= soc.soc <= 100:
                raise WrongDeviceError(
                    f"board {self.unit} answers with a SOC of {soc.soc} %,"
                    " which no Daly BMS reports"
                )
            self.host_address = host
            break
        else:
            assert silent is not None
            raise silent
        try:
            self.status = parse_status(await self._ask(DataId.STATUS))
        except BadResponseError as err:
            raise WrongDeviceError(
                f"board {self.unit} does not answer its status as a Daly BMS: {err}"
            ) from err
        self.sub_devices = []
        self.commands = {}
        cells, sensors = self.status.cells, self.status.temperature_sensors
        return Identity(
            manufacturer=self.manufacturer,
            model=f"{self.model} {cells}S",
            serial_number=f"{cells}S{sensors}T-{self.unit:02X}",
        )

    async def async_poll(self, due: Collection[Cadence]) -> Poll:
        """Ask for each data ID whose cadence is due.

        An ID that is not answered leaves its keys unavailable and the
        board in ``failed``; the link failing raises.
        """
        poll = Poll()
        silent = False
        for cadence, queries in QUERIES.items():
            if cadence not in due:
                continue
            for query in queries:
                if silent:
                    # A board that did not answer one question is gone for
                    # this poll; asking on would only add timeouts.
                    self._attempt(poll, MAIN, query.keys)
                    continue
                try:
                    values = query.decode(await self._ask(query.data_id))
                except LinkError:
                    raise
                except DeviceError as err:
                    poll.failed[MAIN] = err
                    self._attempt(poll, MAIN, query.keys)
                    silent = isinstance(err, DeviceSilentError)
                    continue
                self._put(poll, MAIN, values)
        return poll

    def diagnostics(self) -> Mapping[str, object]:
        """Return the host address in use and the board's status."""
        return {
            **super().diagnostics(),
            "host_address": f"{self.host_address:02X}",
            "status": asdict(self.status) if self.status else None,
        }
