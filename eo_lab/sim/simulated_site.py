"""The simulated site behind a Modbus TCP server, advancing with a clock.

``SimulatedSite`` runs the site model (``site``) on a clock, sped up if
asked, and serves its grid meter, an Eastron SDM630, on a ``DeviceServer``;
``default_battery`` is the demo battery, ``status_line`` a console line on
a site's state.
"""

import asyncio
from collections.abc import Callable, Iterable
import contextlib
from datetime import UTC, datetime
import time
from types import TracebackType
from typing import Self

from eo_lab.sim.battery import SimBattery
from eo_lab.sim.devices.eastron import SDM630Emulator
from eo_lab.sim.profiles import Profile, bundled_profile
from eo_lab.sim.servers import DeviceServer, Framing, serve_devices
from eo_lab.sim.site import Site

DEFAULT_GRID_METER_UNIT = 1
DEFAULT_GRID_METER_SERIAL = 63000001
DEFAULT_GRID_METER_IMPORT_WH = 4_321_000.0
DEFAULT_GRID_METER_EXPORT_WH = 1_234_000.0


def default_battery(seed: int = 0, initial_soc: float = 0.5) -> SimBattery:
    """Return the demo battery: 16 LFP cells, 200 Ah (about 10 kWh)."""
    return SimBattery(
        chemistry="lfp",
        cells_in_series=16,
        capacity_ah=200.0,
        internal_resistance_ohm=0.025,
        initial_soc=initial_soc,
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
    consumers = "".join(
        f"  {consumer.label} {sum(consumer.phase_powers(site.time)):5.0f} W"
        for consumer in site.consumers
    )
    return (
        f"{moment} UTC  load {site.load_w:5.0f} W{consumers}  PV {site.pv_w:5.0f} W"
        f"  battery {site.battery.soc:6.1%} ({site.battery_power_w:+5.0f} W)"
        f"  grid {site.grid_power_w:+6.0f} W"
    )
