"""One Modbus connection per bus or gateway, shared by every device on it.

Many RS485 gateways take a single client, and a serial port can only be opened
once, so every device on a bus talks through the same ``ModbusLink``: requests
are serialised by a lock, spaced for slow gateways, bounded by a timeout, and a
lost connection is re-established with exponential backoff instead of being
hammered. ``LinkPool`` hands out the links, one per bus.

Network links use pymodbus' TCP client, which is asynchronous through and
through; a serial port carries RTU frames through ``RtuSerialClient``, whose
blocking pyserial calls run in worker threads.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
import contextlib
from contextvars import ContextVar
import logging
import time

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.framer import FramerType
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from ..errors import (
    BadResponseError,
    DeviceRejectedError,
    DeviceSilentError,
    IllegalAddressError,
    LinkError,
)
from ..registers import RegisterTable
from .endpoint import Endpoint, LinkKind
from .link import Backoff, LinkStats
from .rtu_serial import RtuSerialClient
from .serial_link import SerialLink

type _Client = AsyncModbusTcpClient | RtuSerialClient

_LOGGER = logging.getLogger(__name__)

# pymodbus logs an error for every request nobody answered and every refused
# connect. A sleeping inverter or a meter off the bus would fill the log with
# them, every poll; the link reports the same failures once, through the
# coordinator. Only records from inside this module's own requests are
# dropped, so other users of pymodbus in the process keep theirs.
_IN_OWN_REQUEST: ContextVar[bool] = ContextVar("eo_modbus_request", default=False)


class _OwnRequestNoiseFilter(logging.Filter):
    """Drop pymodbus' warnings and errors about this module's own requests."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep a record unless it came from inside one of our requests."""
        return not (_IN_OWN_REQUEST.get() and record.levelno >= logging.WARNING)


logging.getLogger("pymodbus.logging").addFilter(_OwnRequestNoiseFilter())


@contextlib.asynccontextmanager
async def _own_request(lock: asyncio.Lock) -> AsyncIterator[None]:
    """Hold the bus for one request, marking it as ours for the log filter."""
    async with lock:
        token = _IN_OWN_REQUEST.set(True)
        try:
            yield
        finally:
            _IN_OWN_REQUEST.reset(token)


# Modbus exception codes with a meaning of their own here.
_ILLEGAL_DATA_ADDRESS = 2
# A gateway answers these when the RS485 device behind it stays silent.
_GATEWAY_PATH_UNAVAILABLE = 10
_GATEWAY_TARGET_FAILED = 11

DEFAULT_TIMEOUT = 3.0
# Gateways and RS485 devices drop requests that follow the previous answer too
# closely; Modbus TCP devices do not need the pause.
DEFAULT_SPACING = {
    LinkKind.TCP: 0.0,
    LinkKind.RTU_OVER_TCP: 0.02,
    LinkKind.SERIAL: 0.02,
}


class ModbusLink:
    """A shared, self-healing Modbus client for one bus or gateway."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        spacing: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the link; nothing is opened until the first request."""
        self.endpoint = endpoint
        self.timeout = timeout
        self.spacing = DEFAULT_SPACING[endpoint.kind] if spacing is None else spacing
        self.stats = LinkStats()
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._client: AsyncModbusTcpClient | None = None
        self._last_request_end = -float("inf")
        self._backoff = Backoff(endpoint, monotonic)
        # A serial port opens, reconnects and backs off on its own.
        self._serial = (
            RtuSerialClient(
                SerialLink(
                    endpoint, timeout=timeout, monotonic=monotonic, stats=self.stats
                )
            )
            if endpoint.kind is LinkKind.SERIAL
            else None
        )

    def __repr__(self) -> str:
        """Return the link as its endpoint."""
        return f"ModbusLink({self.endpoint})"

    @property
    def connected(self) -> bool:
        """Return whether the connection is open right now."""
        if self._serial is not None:
            return self._serial.connected
        return self._client is not None and self._client.connected

    async def read_registers(
        self, unit: int, table: RegisterTable, address: int, count: int
    ) -> list[int]:
        """Read ``count`` registers of a unit, raising a driver error on failure."""

        def read(client: _Client) -> Awaitable[ModbusPDU]:
            if table is RegisterTable.INPUT:
                return client.read_input_registers(address, count=count, device_id=unit)
            return client.read_holding_registers(address, count=count, device_id=unit)

        registers = await self._request(unit, f"{table.name.lower()} {address}", read)
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
        await self._request(
            unit,
            f"write {address}",
            lambda client: client.write_registers(
                address, list(values), device_id=unit
            ),
        )

    async def _request(
        self,
        unit: int,
        what: str,
        send: Callable[[_Client], Awaitable[ModbusPDU]],
    ) -> list[int]:
        """Send one request on the bus and return the registers answered."""
        async with _own_request(self._lock):
            client = await self._connected_client()
            await self._respect_spacing()
            try:
                response = await send(client)
            except ConnectionException as err:
                self._drop(f"connection lost: {err}")
                raise LinkError(f"{self.endpoint}: connection lost") from err
            except ModbusException as err:
                raise self._failure(unit, err) from err
            finally:
                self._last_request_end = self._monotonic()
            return self._check(unit, response, what)

    async def close(self) -> None:
        """Close the connection; the next request opens it again."""
        async with self._lock:
            if self._serial is not None:
                await self._serial.close()
            self._drop("closed")

    def _check(self, unit: int, response: ModbusPDU, what: str) -> list[int]:
        """Turn a Modbus exception answer into the matching driver error."""
        if isinstance(response, ExceptionResponse) or response.isError():
            self.stats.failures += 1
            code = getattr(response, "exception_code", 0)
            if code == _ILLEGAL_DATA_ADDRESS:
                raise IllegalAddressError(
                    code, f"unit {unit} has no register at {what}"
                )
            if code in (_GATEWAY_PATH_UNAVAILABLE, _GATEWAY_TARGET_FAILED):
                raise DeviceSilentError(
                    f"the gateway {self.endpoint} got no answer from unit {unit}"
                )
            raise DeviceRejectedError(
                code, f"unit {unit} rejected {what} with Modbus exception {code}"
            )
        return list(getattr(response, "registers", []) or [])

    def _failure(self, unit: int, err: ModbusException) -> Exception:
        """Map a pymodbus error during a request to a driver error."""
        self.stats.failures += 1
        if self._client is not None and not self._client.connected:
            self._drop(str(err))
            return LinkError(f"{self.endpoint}: connection lost")
        # pymodbus reports a request nobody answered as an I/O error.
        return DeviceSilentError(
            f"unit {unit} on {self.endpoint} did not answer within {self.timeout:g} s"
        )

    async def _respect_spacing(self) -> None:
        """Leave the bus quiet for ``spacing`` seconds after the last answer."""
        wait = self._last_request_end + self.spacing - self._monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _connected_client(self) -> _Client:
        """Return an open client, connecting with backoff when needed."""
        if self._serial is not None:
            return self._serial
        if self._client is not None and self._client.connected:
            return self._client
        self._backoff.check()
        self._drop("reconnecting")
        client = self._make_client()
        error = "no connection"
        try:
            ok = await client.connect()
        except (OSError, ModbusException, ValueError) as err:
            ok = False
            error = str(err) or type(err).__name__
        if not ok:
            client.close()
            raise self._backoff.failed(error)
        self._backoff.succeeded()
        self.stats.connects += 1
        self._client = client
        return client

    def _make_client(self) -> AsyncModbusTcpClient:
        """Build a pymodbus client; reconnecting and retrying are ours to do."""
        framer = (
            FramerType.RTU
            if self.endpoint.kind is LinkKind.RTU_OVER_TCP
            else FramerType.SOCKET
        )
        return AsyncModbusTcpClient(
            self.endpoint.host,
            port=self.endpoint.port,
            framer=framer,
            timeout=self.timeout,
            retries=0,
            reconnect_delay=0,
            trace_packet=self._count_bytes,
        )

    def _count_bytes(self, sending: bool, data: bytes) -> bytes:
        """Count requests and bytes on the wire (pymodbus' packet trace hook)."""
        if sending:
            self.stats.requests += 1
            self.stats.bytes_sent += len(data)
        else:
            self.stats.bytes_received += len(data)
        return data

    def _drop(self, reason: str) -> None:
        """Forget the current client so the next request reconnects."""
        if self._client is not None:
            _LOGGER.debug("%s: closing connection (%s)", self.endpoint, reason)
            self._client.close()
            self._client = None
