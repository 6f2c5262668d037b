"""The SDM630 driver and its Modbus link against pymodbus' real server.

The link reads through a ``modbus-connection`` connection of its own, the
library and backend of Home Assistant's shared connections.
"""

import asyncio

import pytest

from custom_components.energy_orchestrator.lib.drivers.cadence import Cadence
from custom_components.energy_orchestrator.lib.drivers.eastron import (
    SDM630,
    SDM630_POINTS,
)
from custom_components.energy_orchestrator.lib.drivers.errors import (
    DeviceSilentError,
    LinkError,
    LinkSettingsConflictError,
    WrongDeviceError,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)
from custom_components.energy_orchestrator.lib.drivers.transport.pool import LinkPool
from eo_lab.sim.devices.eastron import SDM630Emulator
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite
from tests.conftest import SIM_SERIAL


def _link(port: int, **kwargs: float) -> ModbusLink:
    return ModbusLink.standalone(parse_endpoint(f"tcp://127.0.0.1:{port}"), **kwargs)


async def test_identify_and_read_match_the_site(site: SimulatedSite) -> None:
    link = _link(site.port)
    driver = SDM630(link, 1)
    identity = await driver.async_identify()
    assert (identity.manufacturer, identity.model) == ("Eastron", "SDM630")
    assert identity.serial_number == SIM_SERIAL

    readings = await driver.async_read()
    truth = site.site.grid_meter_values()
    assert set(readings) == {p.key for p in SDM630_POINTS}
    for key, reading in readings.items():
        # Float32 on the wire; the site moves on between request and check.
        assert reading.value == pytest.approx(truth[key], rel=0.02, abs=5.0), key
    phases = sum(readings[f"grid_power_l{p}"].value for p in (1, 2, 3))
    assert readings["grid_power"].value == pytest.approx(phases, rel=1e-3, abs=1.0)
    assert str(readings["grid_import_energy"].unit) == "Wh"
    await link.close()


async def test_illegal_gap_is_learned_and_not_requested_again(
    site: SimulatedSite,
) -> None:
    """The emulator, like Eastron's table, has no registers 0xD0-0xDF.

    The planner reads 0xC8-0xCD and 0xE0 apart anyway (gap > 16); shrink the
    gap rule so it merges them, then watch it learn the break from the
    device's "illegal data address" answer.
    """
    link = _link(site.port)
    driver = SDM630(link, 1)
    driver.planner.max_gap = 32
    first_plan = len(driver.planner.plan())
    await driver.async_read()
    first_requests = link.stats.requests
    assert first_requests > first_plan  # the failed merge and its halves
    assert driver.planner.breaks == {0x00E0}
    assert not driver.planner.holes

    await driver.async_read()
    assert link.stats.requests - first_requests == len(driver.planner.plan())
    assert len(driver.planner.plan()) == first_plan + 1
    await link.close()


async def test_missing_register_is_a_suspect_and_an_absent_value() -> None:
    """Refused once while the rest answered: absent, read apart from now on."""
    values = {p.key: 1.0 for p in SDM630_POINTS} | {"frequency": 50.0}
    emulator = SDM630Emulator(63000002, lambda: values, holes={0x00E0})
    async with serve_devices("127.0.0.1", 0, {1: emulator.device}) as server:
        link = _link(server.port)
        driver = SDM630(link, 1)
        readings = await driver.async_read()
        assert "ac_current_neutral" not in readings
        assert set(driver.planner.suspects) == {"ac_current_neutral"}
        assert readings["ac_voltage_l1"].value == 1.0
        await link.close()


async def test_single_phase_device_is_not_an_sdm630() -> None:
    values = {p.key: 230.0 for p in SDM630_POINTS} | {"frequency": 50.0}
    emulator = SDM630Emulator(12000001, lambda: values, holes={0x0002, 0x0003})
    async with serve_devices("127.0.0.1", 0, {1: emulator.device}) as server:
        link = _link(server.port)
        with pytest.raises(WrongDeviceError, match="lacks registers"):
            await SDM630(link, 1).async_identify()
        await link.close()


async def test_garbage_values_are_not_an_sdm630() -> None:
    values = {p.key: 1e9 for p in SDM630_POINTS}
    emulator = SDM630Emulator(63000003, lambda: values)
    async with serve_devices("127.0.0.1", 0, {1: emulator.device}) as server:
        link = _link(server.port)
        with pytest.raises(WrongDeviceError, match="values no SDM630 reads"):
            await SDM630(link, 1).async_identify()
        await link.close()


async def test_implausible_value_is_unavailable_not_shown() -> None:
    """A voltage of 5 kV is a bad read; it must not reach an entity."""
    values = {p.key: 230.0 for p in SDM630_POINTS} | {
        "frequency": 50.0,
        "ac_voltage_l3": 5000.0,
        "grid_power_factor": 3.0,
    }
    emulator = SDM630Emulator(63000004, lambda: values)
    async with serve_devices("127.0.0.1", 0, {1: emulator.device}) as server:
        link = _link(server.port)
        readings = await SDM630(link, 1).async_read()
        assert "ac_voltage_l3" not in readings
        assert "grid_power_factor" not in readings
        assert readings["ac_voltage_l2"].value == 230.0
        await link.close()


async def test_silent_unit(site: SimulatedSite) -> None:
    link = _link(site.port, timeout=0.3)
    with pytest.raises(DeviceSilentError, match="unit 9"):
        await SDM630(link, 9).async_identify()
    await link.close()


async def test_unreachable_host(closed_port: int) -> None:
    link = _link(closed_port, timeout=0.5)
    with pytest.raises(LinkError, match="cannot connect"):
        await SDM630(link, 1).async_read()
    await link.close()


async def test_reconnects_after_the_server_restarts() -> None:
    async with SimulatedSite(host="127.0.0.1", port=0) as first:
        port = first.port
        link = _link(port, timeout=0.5)
        driver = SDM630(link, 1)
        await driver.async_read()
    with pytest.raises(LinkError):
        await driver.async_read()
    async with SimulatedSite(host="127.0.0.1", port=port):
        readings = await driver.async_read()
        assert "grid_power" in readings
        assert link.stats.connects == 2
    await link.close()


async def test_devices_on_one_gateway_share_one_connection(
    site: SimulatedSite,
) -> None:
    pool = LinkPool()
    endpoint = parse_endpoint(f"tcp://127.0.0.1:{site.port}")
    first = pool.acquire_modbus(endpoint)
    second = pool.acquire_modbus(endpoint)
    assert first is second
    await asyncio.gather(SDM630(first, 1).async_read(), SDM630(second, 1).async_read())
    assert first.stats.connects == 1
    await pool.release(first)
    assert first.connected
    await pool.release(second)
    assert not first.connected
    assert pool.links == []


def test_a_serial_bus_runs_at_one_baud_rate() -> None:
    pool = LinkPool()
    pool.acquire_modbus(parse_endpoint("/dev/ttyUSB0", baudrate=9600))
    with pytest.raises(LinkSettingsConflictError, match="one bus runs at one baud"):
        pool.acquire_modbus(parse_endpoint("/dev/ttyUSB0", baudrate=19200))


def test_a_bus_carries_one_protocol() -> None:
    pool = LinkPool()
    pool.acquire_modbus(parse_endpoint("/dev/ttyUSB0"))
    with pytest.raises(LinkSettingsConflictError, match="one bus carries one"):
        pool.acquire_serial(parse_endpoint("/dev/ttyUSB0"))


async def test_fast_poll_skips_slow_only_requests(site: SimulatedSite) -> None:
    """Per-phase counters are a request of their own, paid only when slow is due.

    The total counters share a request with the powers, so they ride along
    with every fast poll for free.
    """
    link = _link(site.port)
    driver = SDM630(link, 1)
    await driver.async_read()  # learn the plan
    before = link.stats.requests
    poll = await driver.async_poll({Cadence.FAST})
    assert link.stats.requests - before == len(driver.planner.plan()) - 1
    assert "grid_import_energy" in poll.readings
    assert "grid_import_energy_l1" not in poll.attempted
    poll = await driver.async_poll({Cadence.FAST, Cadence.SLOW})
    assert "grid_import_energy_l1" in poll.readings
    await link.close()
