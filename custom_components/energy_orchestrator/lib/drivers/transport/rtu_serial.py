"""Modbus RTU on a serial port, the port's I/O in worker threads.

pymodbus' own serial client opens, reads and closes pyserial ports in the
event loop, and pyserial blocks there: a ``socket://`` port (ser2net) waits
for its TCP connection on opening and sleeps 0.3 s on closing, an
``rfc2217://`` port negotiates for seconds. Here pymodbus only frames the
requests and answers (RTU, CRC); the bytes go through a ``SerialLink``,
which does every blocking call in a worker thread.
"""

from collections.abc import Awaitable

from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ModbusPDU

from ..errors import BadResponseError
from .serial_link import SerialLink


class RtuSerialClient(ModbusClientMixin[Awaitable[ModbusPDU]]):
    """A Modbus client with pymodbus' request methods, over a ``SerialLink``.

    The port opens on the first request, and again after a failure; the
    link's backoff spaces out attempts at a port that cannot be opened.
    """

    def __init__(self, port: SerialLink) -> None:
        """Frame requests for the port; nothing is opened yet."""
        # The mixin's own __init__ sets nothing (and is not typed).
        self._port = port
        self._framer = FramerRTU(DecodePDU(is_server=False))

    @property
    def connected(self) -> bool:
        """Return whether the port is open."""
        return self._port.connected

    def execute(
        self, no_response_expected: bool, request: ModbusPDU
    ) -> Awaitable[ModbusPDU]:
        """Send a request and return its answer (every request has one here)."""
        return self._exchange(request)

    async def close(self) -> None:
        """Close the port in a worker thread."""
        await self._port.close()

    async def _exchange(self, request: ModbusPDU) -> ModbusPDU:
        """Write a request frame; decode the first whole frame answered.

        Raises DeviceSilentError when no whole frame with a valid CRC comes
        in time and LinkError when the port fails (from the serial link).
        """
        answer = await self._port.transact(
            self._framer.buildFrame(request), self._frame_end
        )
        _, response = self._framer.handleFrame(answer, request.dev_id, 0)
        if response is None:
            self._port.stats.failures += 1
            raise BadResponseError(
                f"unit {request.dev_id} on {self._port.endpoint} answered"
                f" {answer.hex(' ')}, which is not its answer"
            )
        return response

    def _frame_end(self, buffer: bytes) -> int | None:
        """Return the length of the bytes holding a whole answer (valid CRC)."""
        used, _, _, pdu = self._framer.decode(buffer)
        return used if pdu else None
