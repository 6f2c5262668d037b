"""Every simulated device family around one site, for ``eo simulate``.

The site's own server carries the SDM630 grid meter (unit 1). Beside it, on
the next ports:

- port + 1: more Modbus devices on one gateway: a SunSpec hybrid inverter
  (unit 1), an SDM120 on L1 (unit 2) and an SDM72 (unit 3);
- port + 2: a Victron GX (unit 100 and the unit ids of its devices);
- port + 3: an Alfen Eve wallbox with a car (units 1 and 200), on the
  site's supply: the grid meter, the GX and the inverter's meter see the car.

Families that speak a raw serial protocol are added by ``SERIAL_PEERS``: each
one is a TCP peer reached as ``socket://host:port``, as through ser2net. The
battery on a CAN bus is one of them too: an slcan adapter behind ser2net,
reached with python-can's ``slcan`` interface at that URL.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass

from custom_components.energy_orchestrator.lib.drivers.base import Driver
from custom_components.energy_orchestrator.lib.drivers.families import (
    FAMILIES,
    Protocol,
    build_can_driver,
    build_driver,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.pool import LinkPool
from eo_lab.sim.devices.bms import EMULATORS as BMS_EMULATORS
from eo_lab.sim.devices.eastron_variants import EastronEmulator, single_phase_values
from eo_lab.sim.devices.sunspec import SunSpecInverterEmulator
from eo_lab.sim.devices.victron import site_gx_emulator
from eo_lab.sim.devices.voltronic import serve_voltronic
from eo_lab.sim.devices.wallbox import site_wallbox
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite, default_battery, status_line


@dataclass(frozen=True, slots=True)
class Served:
    """One simulated device: where it is reached and what it is."""

    url: str
    unit: int
    family: str
    description: str


# A serial-protocol peer: given the running site, a host and a port, serve
# it until the context exits; return what it serves.
type SerialPeer = Callable[
    [SimulatedSite, str, int], contextlib.AbstractAsyncContextManager[Served]
]


def _bms_peer(family: str, **options: int) -> SerialPeer:
    """Return a peer serving one simulated BMS of a family."""

    @contextlib.asynccontextmanager
    async def serve(sim: SimulatedSite, host: str, port: int) -> AsyncIterator[Served]:
        async with BMS_EMULATORS[family](
            sim.site, sync=sim.sync, host=host, port=port, **options
        ) as bms:
            yield Served(bms.url, bms.address, family, bms.description)

    return serve


@contextlib.asynccontextmanager
async def _voltronic_peer(
    sim: SimulatedSite, host: str, port: int
) -> AsyncIterator[Served]:
    """Serve a simulated Axpert-like inverter speaking PI30."""
    async with serve_voltronic(host, port, sim.site, sync=sim.sync) as inverter:
        yield Served(
            inverter.url, inverter.address, "voltronic_pi30", inverter.description
        )


SERIAL_PEERS: list[SerialPeer] = [
    _voltronic_peer,
    _bms_peer("pylontech", packs=2),
    _bms_peer("jk_pb"),
    _bms_peer("daly"),
    _bms_peer("pylontech_can"),
]
# The ports the fleet takes from the site's on: the site, three Modbus
# gateways, one port per serial peer.
FLEET_PORTS = 4 + len(SERIAL_PEERS)


@contextlib.asynccontextmanager
async def served_driver(pool: LinkPool, device: Served) -> AsyncIterator[Driver]:
    """Yield the family's driver for a served device; give its link back after.

    A Modbus or serial device's link comes from ``pool``; a CAN battery's bus
    (slcan at the served URL) is its own.
    """
    family = FAMILIES[device.family]
    if family.protocol is Protocol.CAN:
        driver = build_can_driver(family, "slcan", device.url)
        try:
            yield driver
        finally:
            await driver.link.close()
        return
    endpoint = parse_endpoint(device.url, baudrate=family.default_baudrate)
    driver = build_driver(pool, family, endpoint, device.unit)
    try:
        yield driver
    finally:
        await pool.release(driver.link)


@contextlib.asynccontextmanager
async def serve_fleet(
    sim: SimulatedSite, base_port: int
) -> AsyncIterator[list[Served]]:
    """Serve every family around a running site; yield what is where.

    The fleet takes the ports after ``base_port``; with 0, free ports.
    """
    site, host = sim.site, sim.host

    def port(offset: int) -> int:
        return base_port + offset if base_port else 0

    served = [
        Served(sim.url, unit, "sdm630", description)
        for unit, description in sim.units.items()
    ]
    async with contextlib.AsyncExitStack() as stack:
        # Two strings of two modules: the battery as a stacked LFP bank shows.
        inverter = SunSpecInverterEmulator(site, sync=sim.sync, battery_strings=(2, 2))
        sdm120 = EastronEmulator(
            "SDM120", 12000001, lambda: single_phase_values(site, 1)
        )
        sdm72 = EastronEmulator("SDM72", 72000001, site.grid_meter_values)
        gateway = await stack.enter_async_context(
            serve_devices(
                host,
                port(1),
                {
                    1: inverter.sim_device(1),
                    2: sdm120.sim_device(2),
                    3: sdm72.sim_device(3),
                },
            )
        )
        served += [
            Served(
                gateway.url,
                1,
                "sunspec",
                f"hybrid inverter, SunSpec, {inverter.description}",
            ),
            Served(
                gateway.url, 2, "sdm120", "L1 meter, Eastron SDM120, serial 12000001"
            ),
            Served(gateway.url, 3, "sdm72", "meter, Eastron SDM72, serial 72000001"),
        ]
        gx = site_gx_emulator(site, sync=sim.sync)
        gx_server = await stack.enter_async_context(
            serve_devices(host, port(2), gx.sim_devices())
        )
        served.append(
            Served(gx_server.url, 100, "victron_gx", "Victron GX with its devices")
        )
        wallbox = await stack.enter_async_context(
            serve_devices(
                host, port(3), site_wallbox(site, sync=sim.sync).sim_devices()
            )
        )
        served.append(Served(wallbox.url, 1, "alfen", "wallbox, Alfen Eve, with a car"))
        for offset, peer in enumerate(SERIAL_PEERS, start=4):
            served.append(
                await stack.enter_async_context(peer(sim, host, port(offset)))
            )
        yield served


async def run_simulator(
    host: str,
    port: int,
    speed: float,
    stop: asyncio.Event,
    out: Callable[[str], None],
    *,
    status_interval_s: float = 10.0,
    initial_soc: float = 0.5,
) -> None:
    """Serve the simulated site and its fleet until ``stop`` is set.

    What ``eo simulate`` runs: prints where each device is reached, then a
    status line of the site every ``status_interval_s`` seconds of real time.
    ``port`` 0 serves on free ports (the fleet then takes the next ones);
    the house battery starts at ``initial_soc`` (0-1).
    """
    battery = default_battery(initial_soc=initial_soc)
    async with (
        SimulatedSite(host=host, port=port, speed=speed, battery=battery) as sim,
        serve_fleet(sim, port) as served,
    ):
        out(f"Simulated site (speed x{speed:g}); devices:")
        for device in served:
            out(f"  {device.url} unit {device.unit}: {device.description}")
        while not stop.is_set():
            sim.sync()
            out(status_line(sim.site))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), status_interval_s)
