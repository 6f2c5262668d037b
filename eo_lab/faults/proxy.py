"""A Modbus TCP proxy in front of a simulated device that injects faults.

``FaultProxy`` listens on a port of its own and forwards every Modbus TCP
frame to the device behind it, until told to misbehave (``inject``):

- ``DROP``: reset every connection (TCP RST), at once and as soon as one
  is opened;
- ``REFUSE``: stop listening, so a connect is refused (a gateway rebooting);
- ``STALL``: read every request and never answer (a hung gateway);
- ``BLACKHOLE``: read nothing, answer nothing, close nothing (a cable
  pulled behind a switch: the connection stays open and silent);
- ``GARBAGE``: answer random bytes;
- ``TRUNCATE``: answer the first half of the device's answer;
- ``SLOW``: answer ``delay_s`` late;
- ``EXCEPTION``: answer Modbus exception ``code`` (1, 2, 4, 11...);
- ``REWRITE``: answer the device's answer with registers rewritten
  (``rewrite_point``: a counter that spikes).

A fault that answers request by request (stall, garbage, truncate, slow,
exception, rewrite) may be given ``units``: only the requests to those unit
ids get it, the others are forwarded faithfully (a sub-device that fails
behind a gateway whose other units answer).

``swap_to`` sends the frames to another device from then on (a gateway
re-mapped, a unit swapped), over the connections already open or, with
``reconnect``, after dropping them. ``heal`` ends the fault. The proxy
works frame by frame, so it needs the Modbus TCP framing (MBAP header).
"""

import asyncio
from collections.abc import Callable, Collection, Sequence
import contextlib
from dataclasses import dataclass
from enum import StrEnum
import random
import socket
import struct
from types import TracebackType
from typing import Self

from custom_components.energy_orchestrator.lib.drivers.registers import Point

_HEADER = struct.Struct(">HHHB")  # transaction id, protocol id, length, unit id
_EXCEPTION_BIT = 0x80
# The read functions whose answers carry registers a rewrite can change.
_READ_HOLDING = 3
_READ_INPUT = 4
_MAX_PDU = 253
_NO_LINGER = struct.pack("ii", 1, 0)


class Fault(StrEnum):
    """What the proxy does to the traffic."""

    NONE = "none"
    DROP = "drop"
    REFUSE = "refuse"
    STALL = "stall"
    BLACKHOLE = "blackhole"
    GARBAGE = "garbage"
    TRUNCATE = "truncate"
    SLOW = "slow"
    EXCEPTION = "exception"
    REWRITE = "rewrite"


# Faults that take the whole connection, whatever unit a request is for.
_CONNECTION_FAULTS = frozenset({Fault.DROP, Fault.REFUSE, Fault.BLACKHOLE})

# A rewrite: (unit, function code, first address, registers) -> registers.
type Rewrite = Callable[[int, int, int, list[int]], list[int]]


@dataclass(frozen=True, slots=True)
class Frame:
    """One Modbus TCP frame: its MBAP header fields and its PDU."""

    transaction: int
    unit: int
    pdu: bytes

    def encode(self) -> bytes:
        """Return the frame's bytes."""
        return _HEADER.pack(self.transaction, 0, len(self.pdu) + 1, self.unit) + (
            self.pdu
        )


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """Read one Modbus TCP frame; raise IncompleteReadError at the end."""
    header = await reader.readexactly(_HEADER.size)
    transaction, _protocol, length, unit = _HEADER.unpack(header)
    if not 1 <= length <= _MAX_PDU + 1:
        raise ValueError(f"not a Modbus TCP frame (length {length})")
    return Frame(transaction, unit, await reader.readexactly(length - 1))


def rewrite_point(point: Point, value: Callable[[], float]) -> Rewrite:
    """Return a rewrite that makes every answer covering ``point`` say ``value()``.

    An answer that holds only part of the point's registers is left alone.
    """
    words = point.table.value

    def rewrite(
        unit: int, function: int, address: int, registers: list[int]
    ) -> list[int]:
        offset = point.address - address
        if function != words or offset < 0 or point.end > address + len(registers):
            return registers
        encoded = point.encode(value())
        return [
            *registers[:offset],
            *encoded,
            *registers[offset + len(encoded) :],
        ]

    return rewrite


def _rewritten(request: Frame, answer: Frame, rewrite: Rewrite) -> Frame:
    """Return a read's answer with its registers rewritten."""
    function = request.pdu[0]
    if function not in {_READ_HOLDING, _READ_INPUT} or answer.pdu[0] != function:
        return answer
    (address,) = struct.unpack_from(">H", request.pdu, 1)
    count = answer.pdu[1] // 2
    registers = list(struct.unpack_from(f">{count}H", answer.pdu, 2))
    new = rewrite(request.unit, function, address, registers)
    pdu = bytes([function, 2 * len(new)]) + struct.pack(f">{len(new)}H", *new)
    return Frame(answer.transaction, answer.unit, pdu)


def exception_answer(request: Frame, code: int) -> Frame:
    """Return the Modbus exception answer ``code`` to a request."""
    return Frame(
        request.transaction,
        request.unit,
        bytes([request.pdu[0] | _EXCEPTION_BIT, code]),
    )


@dataclass(slots=True, eq=False)
class _Session:
    """One client connection and the connection to the device it is sent to."""

    client: asyncio.StreamWriter
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    target: tuple[str, int] | None = None

    async def close_upstream(self) -> None:
        """Close the connection to the device, if open."""
        if self.upstream is not None:
            writer = self.upstream[1]
            self.upstream = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def close(self, *, reset: bool = False) -> None:
        """Close both connections; ``reset`` closes the client's with a TCP RST."""
        await self.close_upstream()
        if reset and (sock := self.client.get_extra_info("socket")) is not None:
            # No lingering: the kernel answers the close with a reset, as a
            # gateway that reboots does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _NO_LINGER)
        self.client.close()
        with contextlib.suppress(OSError):
            await self.client.wait_closed()


class FaultProxy:
    """A Modbus TCP proxy that injects faults between a client and a device.

    ``async with FaultProxy(device_port) as proxy`` listens on a free port
    (``proxy.port``); point the client there. ``inject`` starts a fault,
    ``heal`` ends it; ``requests`` counts the requests it saw.
    """

    def __init__(
        self,
        upstream_port: int,
        *,
        upstream_host: str = "127.0.0.1",
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        """Describe the proxy; nothing listens before ``start``."""
        self.host = host
        self.port = port
        self.target = (upstream_host, upstream_port)
        self.fault = Fault.NONE
        self.code = 4
        self.delay_s = 0.0
        self.rewrite: Rewrite | None = None
        self.units: frozenset[int] | None = None
        self.requests = 0
        self.connections = 0
        self._random = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._healed = asyncio.Event()
        self._healed.set()
        self._fault_ended = asyncio.Event()

    async def start(self) -> None:
        """Listen (again); ``port`` tells where once started."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        self._healed.set()
        await self._stop_listening()
        await self.drop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def inject(
        self,
        fault: Fault,
        *,
        code: int = 4,
        delay_s: float = 0.0,
        rewrite: Rewrite | None = None,
        units: Collection[int] | None = None,
    ) -> None:
        """Start a fault (ending any other); see the module's list.

        ``units`` limits a request-by-request fault to those unit ids.
        """
        if units is not None and fault in _CONNECTION_FAULTS:
            raise ValueError(f"{fault} takes the whole connection, not units")
        await self.heal()
        self.fault, self.code, self.delay_s = fault, code, delay_s
        self.rewrite = rewrite
        self.units = None if units is None else frozenset(units)
        self._fault_ended.clear()
        if fault is Fault.BLACKHOLE:
            self._healed.clear()
        elif fault is Fault.DROP:
            await self.drop()
        elif fault is Fault.REFUSE:
            await self._stop_listening()
            await self.drop()

    async def heal(self) -> None:
        """End the fault: forward faithfully, listen again."""
        self.fault = Fault.NONE
        self.rewrite = None
        self.units = None
        self._healed.set()
        self._fault_ended.set()
        await self.start()

    async def swap_to(
        self, port: int, *, host: str = "127.0.0.1", reconnect: bool
    ) -> None:
        """Forward to another device from now on.

        Without ``reconnect`` the client's connections stay open and the
        next request goes to the new device over them; with it they are
        dropped first, as when a gateway restarts re-mapped.
        """
        self.target = (host, port)
        if reconnect:
            await self.drop()

    async def drop(self) -> None:
        """Reset every client connection now."""
        sessions = list(self._sessions)
        self._sessions.clear()
        await asyncio.gather(
            *(s.close(reset=True) for s in sessions), return_exceptions=True
        )

    async def _stop_listening(self) -> None:
        """Close the listening socket: connects are refused."""
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            # wait_closed would wait for the clients' connections too.

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve one client connection until it or the device closes it."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.connections += 1
        session = _Session(writer)
        self._sessions.add(session)
        try:
            if self.fault is Fault.DROP:
                return
            while True:
                await self._healed.wait()
                request = await read_frame(reader)
                self.requests += 1
                if not await self._answer(session, request):
                    return
        except asyncio.IncompleteReadError, ValueError, OSError:
            pass
        finally:
            self._sessions.discard(session)
            await session.close()
            if task is not None:
                self._tasks.discard(task)

    async def _answer(self, session: _Session, request: Frame) -> bool:
        """Answer one request as the fault says; return False to close."""
        await self._healed.wait()  # a blackhole begun while it was read
        fault = self._fault_for(request)
        match fault:
            case Fault.DROP:
                return False
            case Fault.STALL:
                return True
            case Fault.GARBAGE:
                session.client.write(
                    self._random.randbytes(self._random.randint(3, 12))
                )
                await session.client.drain()
                return True
            case Fault.EXCEPTION:
                session.client.write(exception_answer(request, self.code).encode())
                await session.client.drain()
                return True
        answer = await self._forward(session, request)
        if answer is None:
            return False
        data = answer.encode()
        match fault:
            case Fault.TRUNCATE:
                data = data[: len(data) // 2]
            case Fault.SLOW:
                await self._delay()
            case Fault.REWRITE if self.rewrite is not None:
                data = _rewritten(request, answer, self.rewrite).encode()
        if fault is Fault.BLACKHOLE:
            return True  # the answer is lost in the hole
        session.client.write(data)
        await session.client.drain()
        return True

    def _fault_for(self, request: Frame) -> Fault:
        """Return the fault a request gets: none if it is not for the units hit."""
        if self.units is not None and request.unit not in self.units:
            return Fault.NONE
        return self.fault

    async def _delay(self) -> None:
        """Wait ``delay_s``, or less if the fault ends meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._fault_ended.wait(), self.delay_s)

    async def _forward(self, session: _Session, request: Frame) -> Frame | None:
        """Send a request to the device; return its answer (None: it is gone)."""
        if session.target != self.target:
            await session.close_upstream()
        if session.upstream is None:
            try:
                session.upstream = await asyncio.open_connection(*self.target)
            except OSError:
                return None
            session.target = self.target
        upstream_reader, upstream_writer = session.upstream
        try:
            upstream_writer.write(request.encode())
            await upstream_writer.drain()
            while True:
                answer = await read_frame(upstream_reader)
                if answer.transaction == request.transaction:
                    return answer
        except asyncio.IncompleteReadError, ValueError, OSError:
            await session.close_upstream()
            return None

    async def __aenter__(self) -> Self:
        """Start listening."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop."""
        await self.stop()


def describe(fault: Fault, *, code: int = 4, delay_s: float = 0.0) -> str:
    """Return a fault as a table row names it."""
    if fault is Fault.EXCEPTION:
        return f"exception {code}"
    if fault is Fault.SLOW:
        return f"slow ({delay_s:g} s)"
    return str(fault)


__all__: Sequence[str] = (
    "Fault",
    "FaultProxy",
    "Frame",
    "Rewrite",
    "describe",
    "exception_answer",
    "read_frame",
    "rewrite_point",
)
