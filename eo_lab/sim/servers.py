"""Simulated devices served over real Modbus TCP (pymodbus' server).

The drivers talk to these exactly as to hardware, through a real socket, so
the demo, the tests and the benchmarks exercise the whole stack: framing,
timeouts, "illegal data address" answers and silent units included.

Building blocks:

- ``SDM630Emulator``: an Eastron SDM630 whose registers follow a live value
  source (the simulated site), with the gaps of Eastron's register table.
- ``serve_devices``: one Modbus TCP server (one "gateway") hosting devices at
  unit ids; start several on several ports for several gateways.
- ``SimulatedSite``: the site model, advancing with a clock, behind a server.
- ``run_simulator``: what ``eo simulate`` runs.
"""

import asyncio
from collections.abc import Callable, Iterable, Mapping
import contextlib
import dataclasses
from datetime import UTC, datetime
import socket
import time
from types import TracebackType
from typing import Literal, Self

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from custom_components.energy_orchestrator.lib.drivers.eastron import (
    SDM630_POINTS,
    SERIAL_NUMBER,
)
from custom_components.energy_orchestrator.lib.drivers.registers import (
    Point,
    RegisterTable,
)
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.profiles import Profile, bundled_profile
from eo_lab.sim.site import Site

# Input registers an SDM630 answers (end exclusive). Everything between is
# "illegal data address", as on the real meter: Eastron's table has gaps.
SDM630_INPUT_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0050),
    (0x0054, 0x0070),
    (0x00C8, 0x00D0),
    (0x00E0, 0x00E2),
    (0x00EA, 0x00FC),
    (0x00FE, 0x0100),
    (0x0102, 0x010E),
    (0x014E, 0x017E),
)
# Holding registers: the meter's settings, and its serial number at 0xFC00.
SDM630_HOLDING_RANGES: tuple[tuple[int, int], ...] = ((0x0000, 0x0030),)
SDM630_SERIAL_RANGE = (0xFC00, 0xFC04)

_READ_INPUT = 4
_BIT_FUNCTIONS = frozenset({1, 2, 5, 15})
_REGISTER_SPACE = 0x10000

type Framing = Literal["tcp", "rtu"]
_FRAMERS: dict[str, FramerType] = {"tcp": FramerType.SOCKET, "rtu": FramerType.RTU}

DEFAULT_GRID_METER_UNIT = 1
DEFAULT_GRID_METER_SERIAL = 63000001
DEFAULT_GRID_METER_IMPORT_WH = 4_321_000.0
DEFAULT_GRID_METER_EXPORT_WH = 1_234_000.0


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


def _registers(ranges: Iterable[tuple[int, int]]) -> list[SimData]:
    """Return SimData blocks of zeroed registers covering address ranges."""
    return [
        SimData(start, count=end - start, datatype=DataType.UINT16)
        for start, end in ranges
        if end > start
    ]


def _without(
    ranges: Iterable[tuple[int, int]], holes: Iterable[int]
) -> list[tuple[int, int]]:
    """Return address ranges with single addresses cut out of them."""
    cuts = sorted(set(holes))
    result: list[tuple[int, int]] = []
    for start, end in ranges:
        begin = start
        for hole in cuts:
            if begin <= hole < end:
                result.append((begin, hole))
                begin = hole + 1
        result.append((begin, end))
    return [(start, end) for start, end in result if end > start]


class SDM630Emulator:
    """An Eastron SDM630 whose input registers follow a live value source.

    ``values_fn`` returns the meter's values by canonical key (the keys of
    ``SDM630_POINTS``, in the value model's units); it is called once per
    read request, so every request answers the site's state at that moment.
    A key it lacks reads 0, as do registers no point covers. ``holes`` makes
    more input registers illegal (remove the L2/L3 voltages and the unit
    looks single-phase); ``silent`` makes the unit never answer.
    """

    manufacturer = "Eastron"
    model = "SDM630"

    def __init__(
        self,
        serial_number: int,
        values_fn: Callable[[], Mapping[str, float]],
        *,
        holes: Iterable[int] = (),
        silent: bool = False,
    ) -> None:
        """Describe the meter; build its Modbus device with ``sim_device``."""
        self.serial_number = serial_number
        self.values_fn = values_fn
        self.holes = frozenset(holes)
        self.silent = silent
        self.requests = 0
        self._input_points: tuple[Point, ...] = tuple(
            sorted(
                (p for p in SDM630_POINTS if p.table is RegisterTable.INPUT),
                key=lambda p: p.address,
            )
        )

    @property
    def description(self) -> str:
        """Return the meter as a user would name it."""
        return f"{self.manufacturer} {self.model}, serial {self.serial_number}"

    @property
    def device(self) -> SimDevice:
        """Return the meter as a pymodbus device (``serve_devices`` sets its id)."""
        return self.sim_device(DEFAULT_GRID_METER_UNIT)

    def sim_device(self, unit: int) -> SimDevice:
        """Return the pymodbus device that serves this meter at ``unit``."""
        if self.silent:
            return silent_device(unit)
        serial_words = SERIAL_NUMBER.encode(self.serial_number)
        serial_start, serial_end = SDM630_SERIAL_RANGE
        padding = [0] * (serial_end - serial_start - len(serial_words))
        holding = [
            *_registers(SDM630_HOLDING_RANGES),
            SimData(
                serial_start,
                values=serial_words + padding,
                datatype=DataType.UINT16,
                readonly=True,
            ),
        ]
        inputs = _registers(_without(SDM630_INPUT_RANGES, self.holes))
        # pymodbus wants a block per table; a meter has no coils, and the
        # action answers "illegal function" to any request for bits.
        bits = [SimData(0, values=0, datatype=DataType.BITS)]
        return SimDevice(
            id=unit,
            simdata=(bits, list(bits), holding, inputs),
            action=self._action,
        )

    async def _action(  # noqa: PLR0917 - pymodbus' SimAction signature
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Fill the requested input registers from the live values.

        pymodbus checks the addresses after this returns, so a request that
        touches an illegal register still gets "illegal data address".
        """
        self.requests += 1
        if function_code in _BIT_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        if function_code != _READ_INPUT:
            return None
        end = address + count
        values = self.values_fn()
        for point in self._input_points:
            if point.end <= address or point.address >= end:
                continue
            offset = point.address - start_address
            words = point.encode(values.get(point.key, 0.0))
            registers[offset : offset + len(words)] = words
        return None


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


def default_battery(seed: int = 0) -> SimBattery:
    """Return the demo battery: 16 LFP cells, 200 Ah (about 10 kWh)."""
    return SimBattery(
        chemistry="lfp",
        cells_in_series=16,
        capacity_ah=200.0,
        internal_resistance_ohm=0.025,
        initial_soc=0.5,
        seed=seed,
    )


class SimulatedSite:
    """The simulated site behind a Modbus TCP server, advancing with a clock.

    Simulated time is ``start_time + (clock() - t0) * speed``, with ``t0``
    the clock when the object is built; ``start_time`` defaults to that
    clock reading. A background task advances the model, and each request
    first brings it up to the moment it is answered. Unit 1 is the grid
    meter, an Eastron SDM630.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        clock: Callable[[], float] = time.time,
        start_time: float | None = None,
        *,
        seed: int = 0,
        profile: Profile | None = None,
        battery: SimBattery | None = None,
        grid_meter_unit: int = DEFAULT_GRID_METER_UNIT,
        grid_meter_serial: int = DEFAULT_GRID_METER_SERIAL,
        grid_meter_holes: Iterable[int] = (),
        framing: Framing = "tcp",
        tick_s: float = 0.25,
    ) -> None:
        """Build the site model; ``start`` (or ``async with``) serves it."""
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.host = host
        self.port = port
        self.speed = speed
        self.framing: Framing = framing
        self.tick_s = tick_s
        self._clock = clock
        self._t0 = clock()
        self.start_time = self._t0 if start_time is None else start_time
        self.site = Site(
            profile if profile is not None else bundled_profile(),
            battery if battery is not None else default_battery(seed),
            start_time=self.start_time,
            seed=seed,
            # A meter fresh from the box reads 0; one on a real site has
            # counted for years, and a test that compares counts relatively
            # should see that.
            initial_import_wh=DEFAULT_GRID_METER_IMPORT_WH,
            initial_export_wh=DEFAULT_GRID_METER_EXPORT_WH,
        )
        self.grid_meter_unit = grid_meter_unit
        self.grid_meter = SDM630Emulator(
            grid_meter_serial, self._grid_meter_values, holes=grid_meter_holes
        )
        self._server: DeviceServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def units(self) -> dict[int, str]:
        """Return what each unit id on the server is."""
        return {self.grid_meter_unit: f"grid meter, {self.grid_meter.description}"}

    @property
    def url(self) -> str:
        """Return the endpoint URL a ``ModbusLink`` takes."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "tcp" if self.framing == "tcp" else "rtu-over-tcp"
        return f"{scheme}://{host}:{self.port}"

    def sim_time(self) -> float:
        """Return the simulated epoch the clock says it is."""
        return self.start_time + (self._clock() - self._t0) * self.speed

    def sync(self) -> None:
        """Bring the model up to the clock."""
        self.site.advance_to(self.sim_time())

    def _grid_meter_values(self) -> dict[str, float]:
        """Return the grid meter's values at the moment of a request."""
        self.sync()
        return self.site.grid_meter_values()

    async def start(self) -> None:
        """Start the server and the task that advances the model."""
        server = serve_devices(
            self.host,
            self.port,
            {self.grid_meter_unit: self.grid_meter.sim_device(self.grid_meter_unit)},
            framing=self.framing,
        )
        await server.start()
        self._server = server
        self.port = server.port
        self._task = asyncio.create_task(self._run(), name="simulated site")

    async def stop(self) -> None:
        """Stop the task and the server."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def _run(self) -> None:
        """Advance the model every tick, so it runs even when nobody reads."""
        while True:
            self.sync()
            await asyncio.sleep(self.tick_s)

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


def status_line(site: Site) -> str:
    """Return one line on the state of a site, for a console."""
    moment = datetime.fromtimestamp(site.time, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{moment} UTC  load {site.load_w:5.0f} W  PV {site.pv_w:5.0f} W"
        f"  battery {site.battery.soc:6.1%} ({site.battery_power_w:+5.0f} W)"
        f"  grid {site.grid_power_w:+6.0f} W"
    )
