"""The drivers' requests to Modbus units on a shared connection.

A gateway or an RS485 bus is one connection, and many gateways take a
single client: everything talking to the devices behind it shares that
connection. Under Home Assistant the ``modbus`` integration holds it and
hands out units (``device/links.py``); in the lab a ``LinkPool`` opens one
per bus with the same ``modbus-connection`` library. The connection
serialises the requests, reconnects on the next request after a loss,
paces and times them out.

A ``ModbusLink`` is the drivers' view of one such connection: it takes the
units it needs from a ``UnitSource`` (a Victron GX or an Alfen station
answers on several), asks the connection for what these devices need (a
timeout, a pause around each request on RS485), turns the library's errors
into the drivers' own and counts what went over the wire.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
import logging
from typing import Literal

from modbus_connection import (
    GatewayPathUnavailableError,
    GatewayTargetError,
    IllegalDataAddressError,
    ModbusConnectionError,
    ModbusError,
    ModbusExceptionError,
    ModbusProtocolError,
    ModbusSerialParams,
    ModbusTcpParams,
    ModbusTimeoutError,
)
from modbus_connection.tmodbus import ModbusConnection

from ..errors import (
    BadResponseError,
    DeviceError,
    DeviceRejectedError,
    DeviceSilentError,
    IllegalAddressError,
    LinkError,
)
from ..registers import RegisterTable
from .endpoint import Endpoint, LinkKind
from .link import LinkStats
from .unit import ModbusUnit, UnitSource

_LOGGER = logging.getLogger(__name__)

type ModbusParams = ModbusTcpParams | ModbusSerialParams

DEFAULT_TIMEOUT = 3.0
# RS485 gateways and devices drop a request that follows the previous answer
# too closely. The connection keeps this pause around each request to a unit
# that asks for it; a Modbus TCP device needs none.
RS485_SPACING = 0.02
# The line speed Home Assistant's modbus integration gives RTU frames carried
# over a TCP socket: the same here, so both name the gateway alike and share
# its connection instead of refusing each other's settings.
SOCKET_BAUDRATE = 115200

# Bytes a frame adds around its PDU: the MBAP header (with the unit id) on
# TCP; the address and the CRC on RTU.
_FRAME_OVERHEAD = {LinkKind.TCP: 7, LinkKind.RTU_OVER_TCP: 3, LinkKind.SERIAL: 3}
# PDU sizes: a read request, an answer's header, an exception answer.
_READ_REQUEST_PDU = 5
_READ_ANSWER_PDU = 2
_WRITE_REQUEST_PDU = 6
_WRITE_ANSWER_PDU = 5
_EXCEPTION_PDU = 2
# Line settings as modbus-connection spells them.
_BYTESIZES: dict[int, Literal[7, 8]] = {7: 7, 8: 8}
_PARITIES: dict[str, Literal["N", "E", "O"]] = {"N": "N", "E": "E", "O": "O"}
_STOPBITS: dict[int, Literal[1, 2]] = {1: 1, 2: 2}


def modbus_params(endpoint: Endpoint) -> ModbusParams:
    """Return the ``modbus-connection`` parameters of an endpoint.

    RTU frames through a transparent gateway go over a ``socket://`` serial
    link, as Home Assistant builds that link too.
    """
    if endpoint.kind is LinkKind.TCP:
        return ModbusTcpParams(host=endpoint.host, port=endpoint.port)
    if endpoint.kind is LinkKind.RTU_OVER_TCP:
        return ModbusSerialParams(
            device=f"socket://{endpoint.address}",
            framer="rtu",
            baudrate=SOCKET_BAUDRATE,
        )
    settings = endpoint.serial
    assert settings is not None
    return ModbusSerialParams(
        device=endpoint.address,
        baudrate=settings.baudrate,
        bytesize=_BYTESIZES[settings.bytesize],
        parity=_PARITIES[settings.parity],
        stopbits=_STOPBITS[settings.stopbits],
        framer="rtu",
    )


@dataclass(slots=True)
class _Exchange:
    """One request: what it is, for messages, and its frame sizes."""

    unit: int
    what: str
    request_pdu: int
    answer_pdu: int


class ModbusLink:
    """The drivers' requests to the units of one shared Modbus connection."""

    def __init__(
        self,
        endpoint: Endpoint,
        units: UnitSource,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Prepare the link; no unit is taken before its first request.

        ``on_close`` runs when the link is closed: the lab's links close
        the connection they opened; a shared one is released by its owner.
        """
        self.endpoint = endpoint
        self.timeout = timeout
        self.stats = LinkStats()
        self._units_source = units
        self._units: dict[int, ModbusUnit] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self._on_close = on_close
        # Whether the connection that carried the last answer is still the
        # one up: cleared when it drops (under any of its users) or is found
        # down, so the next answer, over a new connection, counts a connect.
        self._on_counted_connection = False
        self._overhead = _FRAME_OVERHEAD[endpoint.kind]

    @classmethod
    def standalone(
        cls, endpoint: Endpoint, *, timeout: float = DEFAULT_TIMEOUT
    ) -> ModbusLink:
        """Return a link over a connection of its own, closed with the link.

        For the lab and the tests, outside Home Assistant: the same library
        and backend as Home Assistant's shared connections.
        """
        connection = ModbusConnection(modbus_params(endpoint))

        async def unit(unit_id: int) -> ModbusUnit:
            return connection.for_unit(unit_id)

        return cls(endpoint, unit, timeout=timeout, on_close=connection.close)

    def __repr__(self) -> str:
        """Return the link as its endpoint."""
        return f"ModbusLink({self.endpoint})"

    @property
    def connected(self) -> bool:
        """Return whether the connection is open right now (False before use)."""
        return any(unit.connected for unit in self._units.values())

    async def unit(self, unit_id: int) -> ModbusUnit:
        """Return the unit at an address, taking it on first use.

        Raises LinkSettingsConflictError when the connection is held at
        other line settings.
        """
        if (unit := self._units.get(unit_id)) is not None:
            return unit
        unit = await self._units_source(unit_id)
        unit.require_timeout(self.timeout)
        if self.endpoint.kind is not LinkKind.TCP:
            unit.set_message_spacing(RS485_SPACING)
        self._unsubscribe.append(unit.on_connection_lost(self._connection_lost))
        self._units[unit_id] = unit
        return unit

    async def read_registers(
        self, unit: int, table: RegisterTable, address: int, count: int
    ) -> list[int]:
        """Read ``count`` registers of a unit, raising a driver error on failure."""
        target = await self.unit(unit)
        read = (
            target.read_input_registers
            if table is RegisterTable.INPUT
            else target.read_holding_registers
        )
        exchange = _Exchange(
            unit,
            f"{table.name.lower()} {address}",
            _READ_REQUEST_PDU,
            _READ_ANSWER_PDU + 2 * count,
        )
        registers = await self._request(target, exchange, read(address, count))
        if len(registers) < count:
            self.stats.failures += 1
            raise BadResponseError(
                f"unit {unit} answered {len(registers)} of {count} registers"
                f" at {address}"
            )
        return registers[:count]

    async def write_registers(
        self, unit: int, address: int, values: Sequence[int]
    ) -> None:
        """Write holding registers of a unit (function 16)."""
        target = await self.unit(unit)
        exchange = _Exchange(
            unit,
            f"write {address}",
            _WRITE_REQUEST_PDU + 2 * len(values),
            _WRITE_ANSWER_PDU,
        )
        await self._request(
            target, exchange, target.write_registers(address, list(values))
        )

    async def close(self) -> None:
        """Stop listening to the connection; close it if the link opened it."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self._units.clear()
        if self._on_close is not None:
            await self._on_close()

    async def _request[T](
        self, unit: ModbusUnit, exchange: _Exchange, request: Awaitable[T]
    ) -> T:
        """Send one request, count it, and map its failure to a driver error."""
        was_connected = unit.connected
        if not was_connected:
            self._on_counted_connection = False
        try:
            answer = await request
        except ModbusError as err:
            self.stats.failures += 1
            raise self._failure(unit, was_connected, exchange, err) from err
        self._count(exchange, exchange.answer_pdu)
        return answer

    def _failure(
        self,
        unit: ModbusUnit,
        was_connected: bool,
        exchange: _Exchange,
        err: ModbusError,
    ) -> DeviceError:
        """Return the driver error for a failed request, counting what was sent."""
        if isinstance(err, ModbusExceptionError):
            self._count(exchange, _EXCEPTION_PDU)
            return self._exception_answer(exchange, err)
        if not (was_connected or unit.connected):
            # The request never left: the connection could not be opened.
            return LinkError(f"cannot connect to {self.endpoint}: {err}")
        self._count(exchange, None, connection_up=unit.connected)
        if isinstance(err, ModbusTimeoutError):
            return DeviceSilentError(
                f"unit {exchange.unit} on {self.endpoint} did not answer: {err}"
            )
        if isinstance(err, ModbusProtocolError):
            return BadResponseError(
                f"unit {exchange.unit} on {self.endpoint} answered something"
                f" that is not its answer: {err}"
            )
        if isinstance(err, ModbusConnectionError):
            return LinkError(f"{self.endpoint}: connection lost ({err})")
        return LinkError(f"{self.endpoint}: {err}")

    def _exception_answer(
        self, exchange: _Exchange, err: ModbusExceptionError
    ) -> DeviceError:
        """Return the driver error for a Modbus exception answer."""
        code = int(err.exception_code or 0)
        if isinstance(err, IllegalDataAddressError):
            return IllegalAddressError(
                code, f"unit {exchange.unit} has no register at {exchange.what}"
            )
        if isinstance(err, GatewayPathUnavailableError | GatewayTargetError):
            return DeviceSilentError(
                f"the gateway {self.endpoint} got no answer from unit {exchange.unit}"
            )
        return DeviceRejectedError(
            code,
            f"unit {exchange.unit} rejected {exchange.what} with Modbus exception"
            f" {code}",
        )

    def _count(
        self, exchange: _Exchange, answer_pdu: int | None, *, connection_up: bool = True
    ) -> None:
        """Count a request sent, its answer (None: none came) and its connection.

        A connection is counted once it carried a request and is still up.
        """
        self.stats.requests += 1
        self.stats.bytes_sent += self._overhead + exchange.request_pdu
        if answer_pdu is not None:
            self.stats.bytes_received += self._overhead + answer_pdu
        if connection_up and not self._on_counted_connection:
            self._on_counted_connection = True
            self.stats.connects += 1

    def _connection_lost(self) -> None:
        """Remember that the connection dropped under one of its users."""
        _LOGGER.debug("%s: connection lost", self.endpoint)
        self._on_counted_connection = False
