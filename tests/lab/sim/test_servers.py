"""Simulated devices on real Modbus TCP sockets, read by the real driver."""

import asyncio
from collections.abc import AsyncIterator
import time

import pytest

from custom_components.energy_orchestrator.lib.drivers.eastron import (
    SDM630,
    SDM630_POINTS,
)
from custom_components.energy_orchestrator.lib.drivers.errors import DeviceSilentError
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)
from eo_lab.sim.devices.eastron import SDM630Emulator
from eo_lab.sim.fleet import run_simulator
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite
from tests.lib.drivers.resolution import reported

# pymodbus binds a listening socket; Home Assistant's test harness blocks
# sockets unless a test asks for them.
pytestmark = pytest.mark.usefixtures("socket_enabled")

START = 1_750_000_000.0  # 2025-06-15 15:06 UTC: the sun shines


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[SimulatedSite]:
    async with SimulatedSite(
        host="127.0.0.1", port=0, speed=60.0, clock=clock, start_time=START
    ) as running:
        yield running


def _link(url: str, timeout: float = 0.5) -> ModbusLink:
    return ModbusLink.standalone(parse_endpoint(url), timeout=timeout)


def _constant_values() -> dict[str, float]:
    values = {p.key: 230.0 for p in SDM630_POINTS} | {"frequency": 50.0}
    return values | {k: 0.97 for k in values if "power_factor" in k}


async def test_driver_reads_what_the_site_shows(
    sim: SimulatedSite, clock: FakeClock
) -> None:
    assert sim.port > 0
    assert sim.url == f"tcp://127.0.0.1:{sim.port}"
    assert sim.units == {1: "grid meter, Eastron SDM630, serial 63000001"}
    link = _link(sim.url)
    driver = SDM630(link, 1)
    identity = await driver.async_identify()
    assert identity.serial_number == "63000001"

    seen = []
    for _ in range(2):
        readings = await driver.async_read()
        seen.append(readings)
        truth = sim.site.grid_meter_values()
        assert sim.site.time == sim.sim_time()
        assert set(readings) == set(truth)
        for key, reading in readings.items():
            # Float32 on the wire: about 7 significant digits.
            assert reading.value == reported(key, truth[key], rel=1e-6), key
        phases = sum(readings[f"grid_power_l{p}"].value for p in (1, 2, 3))
        assert readings["grid_power"].value == pytest.approx(phases, rel=1e-5, abs=1e-3)
        # A minute of real time is an hour on the site: the meter counts on.
        clock.now += 60.0
    assert sim.sim_time() == START + 2 * 3600.0
    assert seen[0]["ac_voltage_l1"].value != seen[1]["ac_voltage_l1"].value
    await link.close()


async def test_background_task_advances_the_site(clock: FakeClock) -> None:
    async with SimulatedSite(clock=clock, start_time=START, tick_s=0.01) as sim:
        clock.now += 10.0
        await asyncio.sleep(0.05)
        assert sim.site.time == START + 10.0


async def test_a_hole_drops_the_point() -> None:
    emulator = SDM630Emulator(63000010, _constant_values, holes={0x015C, 0x015D})
    async with serve_devices("127.0.0.1", 0, {1: emulator.device}) as server:
        link = _link(server.url)
        driver = SDM630(link, 1)
        readings = await driver.async_read()
        assert "grid_import_energy_l2" not in readings
        assert readings["grid_import_energy_l1"].value == pytest.approx(230.0)
        assert set(readings) == {p.key for p in SDM630_POINTS} - {
            "grid_import_energy_l2"
        }
        # The driver asks again, and again gets all the rest.
        assert set(await driver.async_read()) == set(readings)
        await link.close()


async def test_registers_outside_the_table_are_illegal() -> None:
    emulator = SDM630Emulator(63000011, _constant_values)
    async with serve_devices("127.0.0.1", 0, {1: emulator.device}) as server:
        link = _link(server.url)
        table = SDM630_POINTS[0].table
        # Inside a range but not a point: reads 0.
        assert await link.read_registers(1, table, 0x0050 - 2, 2) == [0, 0]
        for address in (0x0050, 0x00D0, 0x017E):
            with pytest.raises(Exception, match="has no register"):
                await link.read_registers(1, table, address, 2)
        with pytest.raises(Exception, match="has no register"):
            await link.read_registers(1, table, 0x004E, 4)  # runs into the gap
        await link.close()


async def test_silent_unit_times_out_and_the_link_survives() -> None:
    meter = SDM630Emulator(63000012, _constant_values)
    mute = SDM630Emulator(63000013, _constant_values, silent=True)
    devices = {1: meter.device, 2: mute.device}
    async with serve_devices("127.0.0.1", 0, devices) as server:
        link = _link(server.url, timeout=0.2)
        started = time.monotonic()
        with pytest.raises(DeviceSilentError, match="unit 2"):
            await SDM630(link, 2).async_identify()
        assert time.monotonic() - started < 1.0
        with pytest.raises(DeviceSilentError, match="unit 7"):
            await SDM630(link, 7).async_read()  # no such unit on the bus
        identity = await SDM630(link, 1).async_identify()
        assert identity.serial_number == "63000012"
        await link.close()


async def test_several_gateways_and_rtu_framing() -> None:
    first = SDM630Emulator(63000020, _constant_values)
    second = SDM630Emulator(63000021, _constant_values)
    async with (
        serve_devices("127.0.0.1", 0, {1: first.device}) as tcp,
        serve_devices("127.0.0.1", 0, {5: second.device}, framing="rtu") as rtu,
    ):
        assert tcp.port != rtu.port
        assert rtu.url.startswith("rtu-over-tcp://")
        links = [_link(tcp.url), _link(rtu.url)]
        identities = await asyncio.gather(
            SDM630(links[0], 1).async_identify(), SDM630(links[1], 5).async_identify()
        )
        assert [i.serial_number for i in identities] == ["63000020", "63000021"]
        for link in links:
            await link.close()


async def test_port_in_use_is_an_os_error() -> None:
    emulator = SDM630Emulator(63000030, _constant_values)
    async with serve_devices("127.0.0.1", 0, {1: emulator.device}) as server:
        with pytest.raises(OSError, match="in use"):
            async with serve_devices("127.0.0.1", server.port, {1: emulator.device}):
                pass


async def test_run_simulator_prints_units_and_status() -> None:
    stop = asyncio.Event()
    lines: list[str] = []

    def out(line: str) -> None:
        lines.append(line)
        if lines[-1].startswith("20"):  # the first status line
            stop.set()

    await asyncio.wait_for(run_simulator("127.0.0.1", 0, 1.0, stop, out), timeout=2.0)
    assert lines[0] == "Simulated site (speed x1); devices:"
    assert lines[1].startswith("  tcp://127.0.0.1:")
    assert lines[1].endswith(" unit 1: grid meter, Eastron SDM630, serial 63000001")
    assert ":0 " not in lines[1]
    for word in ("load", "PV", "battery", "grid"):
        assert word in lines[-1]


async def test_run_simulator_starts_the_battery_where_it_is_told() -> None:
    """``eo simulate --initial-soc``: the status line shows the battery there."""
    stop = asyncio.Event()
    lines: list[str] = []

    def out(line: str) -> None:
        lines.append(line)
        if line.startswith("20"):
            stop.set()

    await asyncio.wait_for(
        run_simulator("127.0.0.1", 0, 1.0, stop, out, initial_soc=0.23), timeout=2.0
    )
    assert "battery  23.0%" in lines[-1]
