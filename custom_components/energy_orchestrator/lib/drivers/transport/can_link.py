"""A CAN bus through python-can, so every adapter a user has works.

``CanChannel`` names a bus as python-can does: an interface and a channel.
``socketcan`` with ``can0`` is a Waveshare/MCP2515 HAT or a candleLight USB
adapter that Linux brings up (``ip link set can0 up type can bitrate
500000``: the bitrate is the kernel's setting there); ``slcan`` with a
serial port (``/dev/ttyACM0``) is a CANable, and ``slcan`` with a pyserial
URL (``socket://host:port``) is an slcan adapter on another machine behind
ser2net; ``virtual`` is python-can's in-process bus, for tests.

python-can is blocking: the bus is opened, written to and shut in worker
threads, and one reader thread per bus hands each frame to the event loop,
so Home Assistant's loop never waits on the adapter. A bus whose reader
fails (the ser2net host went away) is reopened on the next use, with the
same backoff as a serial port.
"""

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
import logging
import threading
import time
from typing import Any

import can

from ..errors import LinkError
from .endpoint import Endpoint, LinkKind
from .link import Backoff, LinkStats

_LOGGER = logging.getLogger(__name__)

# The interfaces the config flow offers; python-can knows more, and the
# node's config may name any of them.
INTERFACES: tuple[str, ...] = ("socketcan", "slcan", "virtual")
DEFAULT_BITRATE = 500_000
# How long the reader waits for a frame before it looks whether to stop.
_READ_SLICE = 0.2
# An slcan adapter on USB resets when its port opens and needs a moment;
# through a socket there is nothing to wait for.
_SLCAN_SETTLE = 2.0

type FrameHandler = Callable[[can.Message], None]


@dataclass(frozen=True, slots=True)
class CanChannel:
    """A CAN bus as python-can opens it."""

    interface: str
    channel: str
    bitrate: int = DEFAULT_BITRATE

    def __str__(self) -> str:
        """Return the bus as ``interface:channel``."""
        return f"{self.interface}:{self.channel}"

    @property
    def endpoint(self) -> Endpoint:
        """Return the bus as an endpoint, for diagnostics and unique ids."""
        return Endpoint(LinkKind.CAN, str(self))


def open_bus(channel: CanChannel) -> can.BusABC:
    """Open a bus (blocking); raise python-can's or the OS's error."""
    options: dict[str, Any] = {}
    if channel.interface == "slcan":
        remote = "://" in channel.channel
        options["sleep_after_open"] = 0.0 if remote else _SLCAN_SETTLE
    return can.Bus(
        interface=channel.interface,
        channel=channel.channel,
        bitrate=channel.bitrate,
        **options,
    )


class CanLink:
    """One CAN bus: frames in to whoever subscribed, frames out on request."""

    def __init__(
        self,
        channel: CanChannel,
        *,
        opener: Callable[[CanChannel], can.BusABC] = open_bus,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the link; the bus opens on ``async_open``."""
        self.channel = channel
        self.endpoint = channel.endpoint
        self.stats = LinkStats()
        self.frames_received = 0
        self.last_error: str | None = None
        self._opener = opener
        self._backoff = Backoff(self.endpoint, monotonic)
        self._bus: can.BusABC | None = None
        self._reader: threading.Thread | None = None
        self._stop_reading = threading.Event()
        self._handlers: list[FrameHandler] = []
        self._open_lock = asyncio.Lock()
        self._periodic: dict[int, tuple[bytes, float]] = {}
        self._periodic_tasks: dict[int, asyncio.Task[None]] = {}
        self._failed: list[tuple[can.BusABC, threading.Thread | None]] = []

    def __repr__(self) -> str:
        """Return the link as its bus."""
        return f"CanLink({self.channel})"

    @property
    def connected(self) -> bool:
        """Return whether the bus is open and its reader running."""
        return self._bus is not None

    def subscribe(self, handler: FrameHandler) -> Callable[[], None]:
        """Call ``handler`` in the event loop with every frame; return the undo."""
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler)

    async def async_open(self) -> None:
        """Open the bus and start reading, unless it is open already.

        Raises LinkError when the adapter cannot be opened (a wrong channel,
        a ser2net host that does not answer), and keeps later attempts
        spaced out.
        """
        async with self._open_lock:
            if self._bus is not None:
                return
            await self._async_shut_failed()
            self._backoff.check()
            try:
                bus = await asyncio.to_thread(self._opener, self.channel)
            except (can.CanError, OSError, ValueError, ImportError) as err:
                self.stats.failures += 1
                raise self._backoff.failed(str(err) or type(err).__name__) from err
            self._backoff.succeeded()
            self.stats.connects += 1
            self.last_error = None
            self._bus = bus
            self._stop_reading = threading.Event()
            self._reader = threading.Thread(
                target=self._read,
                args=(bus, asyncio.get_running_loop(), self._stop_reading),
                name=f"CAN reader {self.channel}",
                daemon=True,
            )
            self._reader.start()
            for frame_id in self._periodic:
                self._start_periodic(frame_id)

    def _read(
        self,
        bus: can.BusABC,
        loop: asyncio.AbstractEventLoop,
        stop: threading.Event,
    ) -> None:
        """Read frames until told to stop or the bus fails (worker thread)."""
        while not stop.is_set():
            try:
                message = bus.recv(_READ_SLICE)
            except (can.CanError, OSError, ValueError) as err:
                if not stop.is_set():
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(self._lost, bus, err)
                return
            if message is not None and not message.is_error_frame:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._deliver, message)

    def _deliver(self, message: can.Message) -> None:
        """Hand a frame to every subscriber (event loop)."""
        self.frames_received += 1
        self.stats.bytes_received += len(message.data)
        for handler in list(self._handlers):
            handler(message)

    def _lost(self, bus: can.BusABC, err: Exception) -> None:
        """Forget a bus whose reader failed; the next use reopens it."""
        if bus is not self._bus:
            return
        _LOGGER.warning("%s failed, reopening on next use: %s", self.channel, err)
        self.stats.failures += 1
        self.last_error = str(err) or type(err).__name__
        self._bus = None
        self._stop_periodic()
        # Shut by the next open or the close, which are coroutines.
        self._failed.append((bus, self._reader))
        self._reader = None

    async def async_send(self, frame_id: int, data: bytes) -> None:
        """Send one standard (11-bit) frame; raise LinkError when it cannot go."""
        await self.async_open()
        bus = self._bus
        assert bus is not None
        message = can.Message(arbitration_id=frame_id, data=data, is_extended_id=False)
        try:
            await asyncio.to_thread(bus.send, message, 1.0)
        except (can.CanError, OSError, ValueError) as err:
            self.stats.failures += 1
            raise LinkError(f"cannot send on {self.channel}: {err}") from err
        self.stats.requests += 1
        self.stats.bytes_sent += len(data)

    def send_periodically(self, frame_id: int, data: bytes, period: float) -> None:
        """Send a frame every ``period`` seconds while the bus is open."""
        self._periodic[frame_id] = (data, period)
        if self._bus is not None:
            self._start_periodic(frame_id)

    def _start_periodic(self, frame_id: int) -> None:
        """Start the task that sends one periodic frame."""
        if (task := self._periodic_tasks.get(frame_id)) is not None and not task.done():
            return
        self._periodic_tasks[frame_id] = asyncio.get_running_loop().create_task(
            self._send_every(frame_id), name=f"CAN 0x{frame_id:03X} {self.channel}"
        )

    async def _send_every(self, frame_id: int) -> None:
        """Send a periodic frame until the bus closes; a failed send is logged once."""
        failing = False
        while self._bus is not None and frame_id in self._periodic:
            data, period = self._periodic[frame_id]
            try:
                await self.async_send(frame_id, data)
            except LinkError as err:
                if not failing:
                    _LOGGER.warning("%s", err)
                failing = True
            else:
                failing = False
            await asyncio.sleep(period)

    def _stop_periodic(self) -> None:
        """Cancel the periodic senders."""
        for task in self._periodic_tasks.values():
            task.cancel()
        self._periodic_tasks.clear()

    async def close(self) -> None:
        """Stop reading and sending, and shut the bus."""
        self._periodic.clear()
        self._stop_periodic()
        bus, self._bus = self._bus, None
        reader, self._reader = self._reader, None
        self._stop_reading.set()
        if bus is not None:
            await self._async_shut(bus, reader)
        await self._async_shut_failed()

    async def _async_shut_failed(self) -> None:
        """Shut the buses whose reader failed."""
        failed, self._failed = self._failed, []
        for bus, reader in failed:
            await self._async_shut(bus, reader)

    async def _async_shut(
        self, bus: can.BusABC, reader: threading.Thread | None
    ) -> None:
        """Wait for a stopped bus's reader and shut the bus, off the event loop."""
        await asyncio.to_thread(_shut, bus, reader)


def _shut(bus: can.BusABC, reader: threading.Thread | None) -> None:
    """Wait for the reader to stop, then shut the bus (worker thread)."""
    if reader is not None and reader is not threading.current_thread():
        reader.join(_READ_SLICE * 5)
    with contextlib.suppress(can.CanError, OSError):
        bus.shutdown()
