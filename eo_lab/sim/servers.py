"""Simulated devices served over real Modbus TCP (pymodbus' server).

The drivers talk to these exactly as to hardware, through a real socket, so
the demo, the tests and the benchmarks exercise the whole stack: framing,
timeouts, "illegal data address" answers and silent units included.
``serve_devices`` starts one Modbus TCP server (one "gateway") hosting
devices at unit ids; start several on several ports for several gateways.
``silent_device`` is a unit that never answers.
"""

import asyncio
from collections.abc import Mapping
import dataclasses
import socket
from types import TracebackType
from typing import Literal, Self

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

_REGISTER_SPACE = 0x10000

type Framing = Literal["tcp", "rtu"]
_FRAMERS: dict[str, FramerType] = {"tcp": FramerType.SOCKET, "rtu": FramerType.RTU}


async def _never_answer(  # noqa: PLR0917 - pymodbus' SimAction signature
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    registers: list[int],
    set_values: list[int] | list[bool] | None,
) -> ExcCodes | None:
    """Swallow the request: the server sends nothing, the client times out.

    pymodbus' request handler drops the answer on NoSuchIdException when the
    server runs with ``ignore_missing_devices`` (``serve_devices`` does);
    elsewhere the client gets "gateway target failed", which a driver also
    reads as a silent unit.
    """
    raise NoSuchIdException(  # type: ignore[no-untyped-call]
        f"unit silent (function {function_code}, {address})"
    )


def _whole_address_space() -> SimData:
    """Return registers 0-65535, so pymodbus' range check passes any request."""
    return SimData(0, count=_REGISTER_SPACE, datatype=DataType.UINT16)


def silent_device(unit: int) -> SimDevice:
    """Return a unit that never answers, whatever it is asked.

    Its registers span the whole address space, so pymodbus' range check
    never answers "illegal data address" before the action swallows the
    request.
    """
    return SimDevice(
        id=unit,
        simdata=[_whole_address_space()],
        action=_never_answer,
    )


class DeviceServer:
    """One Modbus TCP server: a simulated gateway and the units behind it.

    ``async with serve_devices(...) as server`` starts and stops it; so do
    ``await server.start()`` and ``await server.stop()``. Port 0 picks a
    free port; ``port`` tells which once started.
    """

    def __init__(
        self,
        host: str,
        port: int,
        devices: Mapping[int, SimDevice],
        *,
        framing: Framing = "tcp",
        silent_unknown_units: bool = True,
    ) -> None:
        """Describe the server; nothing listens before ``start``."""
        if framing not in _FRAMERS:
            raise ValueError(f"unknown framing {framing!r}; use tcp or rtu")
        self.host = host
        self.port = port
        self.framing = framing
        self._context: list[SimDevice] = [
            # The mapping's key is the unit id, whatever the device was built as.
            device if device.id == unit else dataclasses.replace(device, id=unit)
            for unit, device in devices.items()
        ]
        if 0 not in devices:
            # pymodbus sends a request for an unknown unit to unit 0.
            self._context.append(
                silent_device(0)
                if silent_unknown_units
                else SimDevice(
                    id=0,
                    simdata=[_whole_address_space()],
                    action=_gateway_target_failed,
                )
            )
        self._server: ModbusTcpServer | None = None

    @property
    def url(self) -> str:
        """Return the endpoint URL a ``ModbusLink`` takes."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "tcp" if self.framing == "tcp" else "rtu-over-tcp"
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Listen; raise OSError when the address cannot be served."""
        if self._server is not None:
            return
        if self.port != 0:
            # pymodbus swallows the bind error into a bare RuntimeError;
            # binding once here first surfaces the real one (port in use,
            # no such address) to the user.
            _probe_bind(self.host, self.port)
        server, bound = await self._listen(self.port)
        if bound is None:
            # Port 0 gave several sockets (IPv4 and IPv6) different ports:
            # start again on one port known to be free.
            await server.shutdown()  # type: ignore[no-untyped-call]
            server, bound = await self._listen(_free_port(self.host))
        self._server = server
        if bound is not None:
            self.port = bound

    async def stop(self) -> None:
        """Close the server and every client connection."""
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    async def _listen(self, port: int) -> tuple[ModbusTcpServer, int | None]:
        """Start a server; return it and its one bound port (None if several)."""
        server = ModbusTcpServer(
            context=self._context,
            framer=_FRAMERS[self.framing],
            address=(self.host, port),
            # Lets a silent unit's action drop the answer (see _never_answer).
            ignore_missing_devices=True,
        )
        try:
            await server.serve_forever(background=True)
        except RuntimeError as err:
            raise OSError(f"cannot listen on {self.host}:{port}: {err}") from err
        listener = server.transport
        ports: set[int] = set()
        if isinstance(listener, asyncio.Server):
            ports = {sock.getsockname()[1] for sock in listener.sockets}
        return server, (ports.pop() if len(ports) == 1 else None)

    async def __aenter__(self) -> Self:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the server."""
        await self.stop()


def serve_devices(
    host: str,
    port: int,
    devices: Mapping[int, SimDevice],
    *,
    framing: Framing = "tcp",
    silent_unknown_units: bool = True,
) -> DeviceServer:
    """Return a server hosting ``devices`` by unit id; ``async with`` it.

    A unit id no device has stays silent, like an RS485 bus where nobody
    has that address (``silent_unknown_units=False`` answers "gateway target
    failed" instead, as many TCP gateways do). ``framing="rtu"`` sends RTU
    frames over TCP, as a transparent RS485 gateway does.
    """
    return DeviceServer(
        host,
        port,
        devices,
        framing=framing,
        silent_unknown_units=silent_unknown_units,
    )


async def _gateway_target_failed(  # noqa: PLR0917 - pymodbus' SimAction signature
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    registers: list[int],
    set_values: list[int] | list[bool] | None,
) -> ExcCodes | None:
    """Answer as a gateway whose RS485 device did not respond."""
    return ExcCodes.GATEWAY_NO_RESPONSE


def _probe_bind(host: str, port: int) -> None:
    """Bind ``host:port`` once and let go; raise OSError when that fails."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The server binds with SO_REUSEADDR too: a port left in TIME_WAIT
        # by a previous run must not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _free_port(host: str) -> int:
    """Return a TCP port free on ``host`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host or "", 0))
        port: int = probe.getsockname()[1]
        return port
