"""A controller drives a remote component as a local one: the wallbox manager.

The node reads the simulator's grid meter and Alfen station; Home
Assistant's wallbox manager is added in its config flow on the remote
entities, and what it commands is read from the station's registers.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.energy_orchestrator.const import DOMAIN
from eo_lab.sim.devices.wallbox import AlfenEmulator, site_wallbox
from eo_lab.sim.servers import DeviceServer, serve_devices
from eo_lab.sim.simulated_site import SimulatedSite
from tests.node.conftest import Broker, run_node, write_config

from .conftest import remote_node_entry, wait_until


@pytest.fixture
async def station(
    site: SimulatedSite,
) -> AsyncIterator[tuple[AlfenEmulator, DeviceServer]]:
    """Serve an Alfen station on the simulated site."""
    emulator = site_wallbox(site.site, sync=site.sync)
    async with serve_devices("127.0.0.1", 0, emulator.sim_devices()) as server:
        yield emulator, server


def _entity(hass: HomeAssistant, domain: str, comp: str, key: str) -> str:
    """Return the entity id of a remote component's entity by its key."""
    entity_id = er.async_get(hass).async_get_entity_id(
        domain, DOMAIN, f"energy_orchestrator/shed/{comp}_{key}"
    )
    assert entity_id is not None, key
    return entity_id


@pytest.mark.slow
@pytest.mark.usefixtures("ha_mqtt")
async def test_the_wallbox_manager_drives_a_remote_alfen(
    broker: Broker,
    hass: HomeAssistant,
    site: SimulatedSite,
    station: tuple[AlfenEmulator, DeviceServer],
    tmp_path: Path,
) -> None:
    """Charge now: the remote station gets three phases at 16 A, through requests."""
    emulator, server = station
    config = await asyncio.to_thread(
        write_config,
        tmp_path,
        broker,
        {
            "node": "shed",
            "failsafe": {"heartbeat_timeout": 10},
            "components": [
                {
                    "id": "meter1",
                    "family": "sdm630",
                    "url": site.url,
                    "unit": 1,
                    "interval": 0.5,
                },
                {
                    "id": "wb1",
                    "family": "alfen",
                    "url": server.url,
                    "unit": 1,
                    "interval": 0.5,
                },
            ],
        },
    )
    async with run_node(config):
        node = remote_node_entry()
        node.add_to_hass(hass)
        assert await hass.config_entries.async_setup(node.entry_id)
        await wait_until(
            hass,
            lambda: {"meter1", "wb1"} <= set(node.runtime_data.components),
            what="both components",
        )
        await hass.async_block_till_done()
        current = _entity(hass, "number", "wb1", "command_charger_current")
        enable = _entity(hass, "switch", "wb1", "command_charger_enabled")
        phases = _entity(hass, "number", "wb1", "command_charger_phases")
        await wait_until(
            hass,
            lambda: (
                (state := hass.states.get(current)) is not None
                and state.state != "unavailable"
            ),
            what="the station",
        )

        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USER}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "wallbox_manager"}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                "name": "Wallbox",
                "grid_power_entity": _entity(hass, "sensor", "meter1", "grid_power"),
                "ev_power_entity": _entity(hass, "sensor", "wb1", "charger_power"),
                "charger_current_entity": current,
                "charger_enable_entity": enable,
                "charger_phases_entity": phases,
                "min_current_a": 6,
                "max_current_a": 16,
                "min_phase_switch_minutes": 10,
                "charge_now_mode": "fast",
            },
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        await hass.async_block_till_done()
        manager: ConfigEntry = result["result"]

        await hass.services.async_call(
            "button", "press", {"entity_id": "button.wallbox_charge_now"}, blocking=True
        )
        await manager.runtime_data.coordinator.async_refresh()
        await wait_until(
            hass,
            lambda: (emulator.phases, emulator.max_current_a) == (3, 16.0),
            what="three phases at 16 A on the station",
        )
        await wait_until(
            hass, lambda: hass.states.get(current).state == "16.0", what="read back"
        )
        assert await hass.config_entries.async_unload(manager.entry_id)
