"""A raw serial link for protocols that are not Modbus (Voltronic, Pylontech, JK, Daly).

pyserial is blocking, so every open, write and read runs in a worker thread
and the event loop never waits on the port. The port may be a device path or
any pyserial URL (``socket://host:port`` for ser2net, ``rfc2217://``), which
is how a battery on another Raspberry Pi reaches this Home Assistant.

One request is on the wire at a time: the caller hands over the request bytes
and a function that says when the bytes read so far hold a whole answer.
"""

import asyncio
from collections.abc import Callable
import time

import serial

# serial_for_url imports a URL's handler when it first meets the scheme; the
# common ones are imported with this module, where importing belongs.
import serial.urlhandler.protocol_rfc2217
import serial.urlhandler.protocol_socket

from ..errors import DeviceSilentError, LinkError
from .endpoint import Endpoint, LinkKind
from .link import Backoff, LinkStats

# How long one blocking read may wait; the answer's deadline is checked
# between reads.
_READ_SLICE = 0.05

# Given the bytes read so far, return the length of the first whole frame
# in them, or None while more bytes are needed.
type FrameEnd = Callable[[bytes], int | None]

DEFAULT_TIMEOUT = 2.0


class SerialLink:
    """A shared, self-healing raw serial port."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the link; the port opens on the first request."""
        if endpoint.kind is not LinkKind.SERIAL or endpoint.serial is None:
            raise ValueError(f"{endpoint} is not a serial port")
        self.endpoint = endpoint
        self.timeout = timeout
        self.stats = LinkStats()
        self._lock = asyncio.Lock()
        self._port: serial.Serial | None = None
        self._backoff = Backoff(endpoint, monotonic)

    def __repr__(self) -> str:
        """Return the link as its endpoint."""
        return f"SerialLink({self.endpoint})"

    @property
    def connected(self) -> bool:
        """Return whether the port is open."""
        return self._port is not None and self._port.is_open

    async def transact(
        self, request: bytes, frame_end: FrameEnd, *, answer_within: float | None = None
    ) -> bytes:
        """Send a request and return the first whole frame answered.

        Raises DeviceSilentError when no whole frame arrives in time (bytes
        that never make a frame count as silence, not as an answer), and
        LinkError when the port cannot be opened or fails.
        """
        async with self._lock:
            port = await self._open()
            self.stats.requests += 1
            try:
                frame, received = await asyncio.to_thread(
                    _exchange, port, request, frame_end, answer_within or self.timeout
                )
            except (serial.SerialException, OSError) as err:
                self.stats.failures += 1
                await self._close_port()
                raise LinkError(f"{self.endpoint}: {err}") from err
            self.stats.bytes_sent += len(request)
            self.stats.bytes_received += received
            if frame is None:
                self.stats.failures += 1
                raise DeviceSilentError(
                    f"no complete answer from {self.endpoint} within"
                    f" {answer_within or self.timeout:g} s ({received} bytes received)"
                )
            return frame

    async def close(self) -> None:
        """Close the port; the next request opens it again."""
        async with self._lock:
            await self._close_port()

    async def _open(self) -> serial.Serial:
        """Return the open port, opening it with backoff when needed."""
        if self._port is not None and self._port.is_open:
            return self._port
        self._backoff.check()
        settings = self.endpoint.serial
        assert settings is not None
        try:
            # Every pyserial URL handler is a Serial with the same interface.
            port: serial.Serial = await asyncio.to_thread(
                serial.serial_for_url,
                self.endpoint.address,
                baudrate=settings.baudrate,
                bytesize=settings.bytesize,
                parity=settings.parity,
                stopbits=settings.stopbits,
                timeout=_READ_SLICE,
                write_timeout=self.timeout,
            )
        except (serial.SerialException, OSError, ValueError) as err:
            raise self._backoff.failed(str(err) or type(err).__name__) from err
        self._backoff.succeeded()
        self.stats.connects += 1
        self._port = port
        return port

    async def _close_port(self) -> None:
        """Close the port in a worker thread."""
        if self._port is not None:
            port, self._port = self._port, None
            await asyncio.to_thread(port.close)


def _exchange(
    port: serial.Serial, request: bytes, frame_end: FrameEnd, timeout: float
) -> tuple[bytes | None, int]:
    """Write a request and read until a whole frame or the deadline (blocking).

    Bytes left over from an earlier, late answer are thrown away first, so
    they cannot be taken for this request's answer.
    """
    port.reset_input_buffer()
    port.write(request)
    port.flush()
    deadline = time.monotonic() + timeout
    buffer = b""
    while time.monotonic() < deadline:
        chunk = port.read(max(1, port.in_waiting))
        if not chunk:
            continue
        buffer += chunk
        if (length := frame_end(buffer)) is not None:
            return buffer[:length], len(buffer)
    return None, len(buffer)
