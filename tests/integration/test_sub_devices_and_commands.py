"""A SunSpec inverter in Home Assistant: sub-devices and a command entity."""

from collections.abc import AsyncIterator

from homeassistant.components.number import (
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_HOST,
    CONF_PORT,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import (
    CONF_CONNECTION,
    CONF_KIND,
    DOMAIN,
)
from eo_lab.sim.devices.sunspec import (
    DEFAULT_SERIAL,
    SunSpecInverterEmulator,
)
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite


@pytest.fixture
async def inverter_port(site: SimulatedSite) -> AsyncIterator[int]:
    """Serve a SunSpec hybrid inverter following the simulated site."""
    emulator = SunSpecInverterEmulator(site.site, sync=site.sync)
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        yield server.port


async def _setup(hass: HomeAssistant, port: int) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        unique_id=DEFAULT_SERIAL,
        title="SunSpec inverter",
        data={
            CONF_KIND: "device",
            CONF_CONNECTION: "tcp",
            "family": "sunspec",
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
            "unit_id": 1,
            "framing": "tcp",
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def test_mppts_are_sub_devices_of_the_inverter(
    hass: HomeAssistant,
    inverter_port: int,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    entry = await _setup(hass, inverter_port)
    inverter = device_registry.async_get_device_by_identifier(
        (DOMAIN, DEFAULT_SERIAL), entry.entry_id
    )
    assert inverter is not None
    devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    children = [d for d in devices if d.via_device_id == inverter.id]
    # Named as the inverter names its trackers (model 160's IDStr).
    assert {d.name for d in children} == {"PV1", "PV2", "Battery 1"}

    mppt1 = next(d for d in children if d.name == "PV1")
    mppt1_entities = {
        e.unique_id for e in er.async_entries_for_device(entity_registry, mppt1.id)
    }
    assert f"{DEFAULT_SERIAL}_mppt1/pv_power" in mppt1_entities
    await hass.config_entries.async_unload(entry.entry_id)


async def test_active_power_limit_is_commanded_and_read_back(
    hass: HomeAssistant, inverter_port: int, entity_registry: er.EntityRegistry
) -> None:
    entry = await _setup(hass, inverter_port)
    limit = entity_registry.async_get_entity_id(
        NUMBER_DOMAIN, DOMAIN, f"{DEFAULT_SERIAL}_command_active_power_limit"
    )
    assert limit is not None
    state = hass.states.get(limit)
    assert state is not None
    assert state.attributes["min"] == 0
    assert state.attributes["max"] == 100

    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: limit, ATTR_VALUE: 40},
        blocking=True,
    )
    assert float(hass.states.get(limit).state) == pytest.approx(40)  # type: ignore[union-attr]

    # Nonsense never reaches the device: Home Assistant's own range check
    # refuses it before the command path sees it.
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            NUMBER_DOMAIN,
            SERVICE_SET_VALUE,
            {ATTR_ENTITY_ID: limit, ATTR_VALUE: 140},
            blocking=True,
        )
    assert float(hass.states.get(limit).state) == pytest.approx(40)  # type: ignore[union-attr]
    await hass.config_entries.async_unload(entry.entry_id)
