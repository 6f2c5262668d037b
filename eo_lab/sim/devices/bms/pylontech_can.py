"""A simulated battery on a CAN bus, speaking the Pylontech protocol.

``PylontechCanEmulator`` makes the frames an LFP BMS broadcasts to its
inverter from a ``Site``'s battery, and puts them on a bus two ways:

- ``on_bus(bus)``: on a python-can bus (``virtual`` in the lib's tests),
  sending its frame set every second and at once after each 0x305
  keep-alive it hears;
- served as an slcan adapter on a TCP socket (``async with emulator``, at
  ``.url``, ``socket://host:port``): what a CANable behind ser2net looks
  like, so Home Assistant's tests and ``eo simulate`` reach the battery
  through python-can's ``slcan`` interface exactly as a user's would.

``waits_for_keepalive`` makes it behave like the batteries that stay quiet
until an inverter talks: it sends only for a few seconds after each 0x305.
``silent`` stops every frame, as a bus whose battery is switched off.
``protections``, ``warnings`` and ``requests`` (flag names of
``pylontech_can_protocol``) override what the frames say.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
import time
from types import TracebackType
from typing import Self

import can

from custom_components.energy_orchestrator.lib.drivers.bms import (
    pylontech_can_protocol as proto,
)
from eo_lab.sim.devices.bms.common import (
    CELL_LIMITS,
    CHARGE_RATE,
    DISCHARGE_RATE,
    battery_source,
)
from eo_lab.sim.site import Site

# After a keep-alive, a battery that waits for one goes on sending this long (s).
KEEPALIVE_GRACE = 5.0
# The slcan commands that only need an OK (bitrates, open, close...).
_OK = b"\r"
_TRANSMIT_ACK = b"z\r"


def slcan_line(frame_id: int, data: bytes) -> bytes:
    """Return a standard frame as an slcan adapter sends it to the host."""
    return f"t{frame_id:03X}{len(data)}{data.hex().upper()}\r".encode()


def parse_slcan_transmit(line: str) -> tuple[int, bytes] | None:
    """Return the frame an slcan ``t`` command sends, or None for a bad one."""
    try:
        frame_id = int(line[1:4], 16)
        length = int(line[4])
        data = bytes.fromhex(line[5 : 5 + 2 * length])
    except ValueError, IndexError:
        return None
    return (frame_id, data) if len(data) == length else None


class PylontechCanEmulator:
    """A battery broadcasting the Pylontech CAN frames of the site's battery."""

    address = 1

    def __init__(
        self,
        site: Site,
        *,
        sync: Callable[[], None] | None = None,
        name: str = "PYLON",
        modules: int = 2,
        waits_for_keepalive: bool = False,
        period: float = proto.FRAME_PERIOD,
        host: str = "127.0.0.1",
        port: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Build the battery; ``async with`` serves it as an slcan adapter."""
        self.battery = battery_source(site, sync)
        self.name = name
        self.modules = modules
        self.waits_for_keepalive = waits_for_keepalive
        self.period = period
        self.host = host
        self.port = port
        self.silent = False
        self.protections: frozenset[str] = frozenset()
        self.warnings: frozenset[str] = frozenset()
        self.requests: frozenset[str] | None = None
        self.keepalives = 0
        self.frames_sent = 0
        self._monotonic = monotonic
        self._last_keepalive = -float("inf")
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._open_clients: set[asyncio.StreamWriter] = set()
        self._broadcaster: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """Return the pyserial URL of the slcan adapter."""
        return f"socket://{self.host}:{self.port}"

    @property
    def description(self) -> str:
        """Return the battery as a user would name it."""
        return (
            f"battery on CAN (Pylontech protocol, {self.name}), slcan adapter"
            " behind ser2net"
        )

    def frames(self) -> list[tuple[int, bytes]]:
        """Return the frame set the BMS sends now, from the site's battery."""
        battery = self.battery()
        cells = battery.cells_in_series
        charge_cell, discharge_cell, _ = CELL_LIMITS[battery.chemistry]
        soc = 100 * battery.soc
        flags = self.requests
        if flags is None:
            # A full battery takes no charge, an empty one gives none.
            flags = frozenset(
                name
                for name, allowed in (
                    ("charge_enable", soc < 100),
                    ("discharge_enable", soc > 5),
                )
                if allowed
            )
        return [
            (
                proto.FrameId.LIMITS,
                proto.encode_limits(
                    proto.Limits(
                        charge_voltage=charge_cell * cells,
                        charge_current=CHARGE_RATE * battery.capacity_ah,
                        discharge_current=DISCHARGE_RATE * battery.capacity_ah,
                        discharge_voltage=discharge_cell * cells,
                    )
                ),
            ),
            (
                proto.FrameId.SOC,
                proto.encode_soc(proto.StateOfCharge(soc=soc, soh=98)),
            ),
            (
                proto.FrameId.MEASUREMENTS,
                proto.encode_measurements(
                    proto.Measurements(
                        voltage=battery.terminal_voltage,
                        current=battery.measured_current,
                        temperature=24.5,
                    )
                ),
            ),
            (
                proto.FrameId.ALARMS,
                proto.encode_alarms(
                    proto.Alarms(self.protections, self.warnings, self.modules)
                ),
            ),
            (proto.FrameId.REQUESTS, proto.encode_requests(proto.Requests(flags))),
            (proto.FrameId.NAME, proto.encode_name(self.name)),
        ]

    def sending(self) -> bool:
        """Return whether the battery sends now."""
        if self.silent:
            return False
        if not self.waits_for_keepalive:
            return True
        return self._monotonic() - self._last_keepalive <= KEEPALIVE_GRACE

    def heard(self, frame_id: int) -> bool:
        """Take note of a frame from the bus; return whether to answer at once."""
        if frame_id != proto.FrameId.KEEPALIVE:
            return False
        self.keepalives += 1
        self._last_keepalive = self._monotonic()
        return self.sending()

    @contextlib.asynccontextmanager
    async def on_bus(self, bus: can.BusABC) -> AsyncIterator[Self]:
        """Send the frames on a python-can bus, and answer its keep-alives."""

        def send_all() -> None:
            for frame_id, data in self.frames():
                bus.send(
                    can.Message(
                        arbitration_id=frame_id, data=data, is_extended_id=False
                    )
                )
                self.frames_sent += 1

        async def broadcast() -> None:
            while True:
                if self.sending():
                    await asyncio.to_thread(send_all)
                await asyncio.sleep(self.period)

        async def listen() -> None:
            while True:
                message = await asyncio.to_thread(bus.recv, 0.1)
                if message is not None and self.heard(message.arbitration_id):
                    await asyncio.to_thread(send_all)

        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(broadcast()), loop.create_task(listen())]
        try:
            yield self
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def start(self) -> None:
        """Serve the slcan adapter; port 0 picks a free port."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._broadcaster = asyncio.get_running_loop().create_task(self._broadcast())

    async def stop(self) -> None:
        """Stop serving and drop the clients."""
        if self._server is None:
            return
        server, self._server = self._server, None
        if self._broadcaster is not None:
            self._broadcaster.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._broadcaster
        server.close()
        for writer in list(self._clients):
            writer.close()
        await server.wait_closed()

    async def drop_clients(self) -> None:
        """Close every client's connection, as a ser2net restart does."""
        for writer in list(self._clients):
            writer.close()

    async def __aenter__(self) -> Self:
        """Start serving."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self.stop()

    async def _broadcast(self) -> None:
        """Send the frame set to every open adapter, once a period."""
        while True:
            if self.sending():
                self._send_frames()
            await asyncio.sleep(self.period)

    def _send_frames(self) -> None:
        """Write the frame set to every client that opened the channel."""
        lines = b"".join(slcan_line(i, d) for i, d in self.frames())
        for writer in list(self._open_clients):
            writer.write(lines)
            self.frames_sent += 1

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Be one host's slcan adapter until it goes away."""
        self._clients.add(writer)
        buffer = b""
        try:
            while chunk := await reader.read(256):
                buffer += chunk
                while b"\r" in buffer:
                    line, buffer = buffer.split(b"\r", 1)
                    writer.write(self._command(line.decode("ascii", "replace"), writer))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._clients.discard(writer)
            self._open_clients.discard(writer)
            writer.close()

    def _command(self, line: str, writer: asyncio.StreamWriter) -> bytes:
        """Carry out one slcan command; return the adapter's answer."""
        command = line[:1]
        if command in ("O", "L"):
            self._open_clients.add(writer)
        elif command == "C":
            self._open_clients.discard(writer)
        elif command == "V":
            return b"V1013\r"
        elif command == "t":
            if (frame := parse_slcan_transmit(line)) is None:
                return b"\a"
            if self.heard(frame[0]):
                self._send_frames()
            return _TRANSMIT_ACK
        return _OK
