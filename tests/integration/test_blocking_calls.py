"""No blocking call in the event loop: adding, running and removing devices.

Home Assistant's blocking-call detection is on in every test here (see
``conftest.py``); these tests add the devices whose code once blocked, as a
user does, and take them away again. A meter behind ser2net is read over
Home Assistant's shared connection (serialx's socket:// port), which is
closed for real when the entry unloads.
"""

from collections.abc import AsyncIterator
from pathlib import Path
import time

from homeassistant.components.modbus.connection import async_get_connection_info
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.energy_orchestrator.lib.drivers.eastron import (
    SDM630,
    SDM630_POINTS,
)
from eo_lab.sim.devices.eastron import SDM630Emulator
from eo_lab.sim.devices.sunspec import SunSpecInverterEmulator
from eo_lab.sim.devices.victron import site_gx_emulator
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite
from tests.integration.flows import add_device


@pytest.fixture
async def meter_behind_ser2net() -> AsyncIterator[str]:
    """A three-phase meter on an RS485 bus behind ser2net; its socket:// URL."""
    values = {p.key: 230.0 for p in SDM630_POINTS} | {"frequency": 50.0}
    meter = SDM630Emulator(63000042, lambda: values)
    async with serve_devices("127.0.0.1", 0, {1: meter.device}, framing="rtu") as bus:
        yield f"socket://127.0.0.1:{bus.port}"


async def test_sdm630_behind_ser2net_is_added_read_and_removed(
    hass: HomeAssistant, meter_behind_ser2net: str
) -> None:
    result = await add_device(
        hass,
        "serial",
        "sdm630",
        {
            CONF_DEVICE: meter_behind_ser2net,
            "baudrate": 9600,
            "more_options": {"unit_id": 1},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    voltage = hass.states.get("sensor.eastron_sdm630_voltage_l1")
    assert voltage is not None
    assert float(voltage.state) == pytest.approx(230.0)
    (connection,) = async_get_connection_info(hass)
    assert connection.endpoint == ("serial", meter_behind_ser2net)
    assert connection.connected
    assert connection.units == {entry.entry_id: [1]}

    # Unloading releases the unit, the last one: the connection closes.
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert async_get_connection_info(hass) == []


async def test_sunspec_inverter_is_added_and_removed(
    hass: HomeAssistant, site: SimulatedSite
) -> None:
    """Its model definitions are files; they are read outside the loop."""
    inverter = SunSpecInverterEmulator(site.site, sync=site.sync)
    async with serve_devices("127.0.0.1", 0, {1: inverter.sim_device(1)}) as server:
        result = await add_device(
            hass,
            "tcp",
            "sunspec",
            {
                CONF_HOST: "127.0.0.1",
                CONF_PORT: server.port,
                "more_options": {"unit_id": 1, "framing": "tcp"},
            },
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        await hass.async_block_till_done()
        assert result["result"].state is ConfigEntryState.LOADED
        assert await hass.config_entries.async_unload(result["result"].entry_id)


async def test_victron_gx_is_added_and_removed(
    hass: HomeAssistant, site: SimulatedSite
) -> None:
    """Its register table is a file; it is read outside the loop."""
    gx = site_gx_emulator(site.site, sync=site.sync)
    async with serve_devices("127.0.0.1", 0, gx.sim_devices()) as server:
        result = await add_device(
            hass,
            "tcp",
            "victron_gx",
            {
                CONF_HOST: "127.0.0.1",
                CONF_PORT: server.port,
                "more_options": {"unit_id": 100, "framing": "tcp"},
            },
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        await hass.async_block_till_done()
        assert result["result"].state is ConfigEntryState.LOADED
        assert await hass.config_entries.async_unload(result["result"].entry_id)


async def test_detection_reports_a_file_read_by_the_integration(
    hass: HomeAssistant,
    site: SimulatedSite,
    monkeypatch: pytest.MonkeyPatch,
    blocking_call_reports: list[str],
) -> None:
    """What the autouse fixture fails a test on: here, a driver reading a file."""
    identify = SDM630.async_identify

    async def reads_a_file(self: SDM630) -> object:
        Path(__file__).read_text(encoding="utf-8")  # noqa: ASYNC240 - the point
        return await identify(self)

    monkeypatch.setattr(SDM630, "async_identify", reads_a_file)
    result = await add_device(
        hass,
        "tcp",
        "sdm630",
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: site.port,
            "more_options": {"unit_id": 1, "framing": "tcp"},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert any(
        "Detected blocking call to read_text" in report
        and "integration 'energy_orchestrator'" in report
        for report in blocking_call_reports
    ), blocking_call_reports
    # Reported as expected: the fixture is not to fail this test.
    blocking_call_reports.clear()
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_detection_stops_a_sleep_in_the_loop(
    hass: HomeAssistant,
    site: SimulatedSite,
    monkeypatch: pytest.MonkeyPatch,
    blocking_call_reports: list[str],
) -> None:
    """A sleep in the loop raises, as it did when closing a socket:// port there."""

    async def sleeps(self: SDM630) -> None:
        time.sleep(0.001)  # noqa: ASYNC251 - the point

    monkeypatch.setattr(SDM630, "async_identify", sleeps)
    result = await add_device(
        hass,
        "tcp",
        "sdm630",
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: site.port,
            "more_options": {"unit_id": 1, "framing": "tcp"},
        },
    )
    assert result["errors"] == {"base": "unknown"}
    assert (
        "Caught blocking call to sleep" in result["description_placeholders"]["error"]
    )
    assert len(blocking_call_reports) == 1
    blocking_call_reports.clear()
