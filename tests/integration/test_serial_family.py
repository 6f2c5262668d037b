"""A serial-protocol inverter in Home Assistant: added through the flow, commanded."""

from homeassistant.components.select import (
    ATTR_OPTION,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.const import ATTR_ENTITY_ID, CONF_DEVICE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er

from custom_components.energy_orchestrator.const import DOMAIN
from eo_lab.sim.devices.voltronic import (
    serve_voltronic,
)
from eo_lab.sim.simulated_site import SimulatedSite
from tests.integration.flows import add_device


async def test_voltronic_over_ser2net_is_read_and_commanded(
    hass: HomeAssistant, site: SimulatedSite, entity_registry: er.EntityRegistry
) -> None:
    async with serve_voltronic("127.0.0.1", 0, site.site, sync=site.sync) as inverter:
        # One inverter per port: PI30 has no address to ask for.
        result = await add_device(
            hass,
            "serial",
            "voltronic_pi30",
            {CONF_DEVICE: inverter.url, "baudrate": 2400},
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        entry = result["result"]
        await hass.async_block_till_done()

        soc = entity_registry.async_get_entity_id(
            "sensor", DOMAIN, f"{entry.unique_id}_battery_soc"
        )
        assert soc is not None
        state = hass.states.get(soc)
        assert state is not None
        assert 0 <= float(state.state) <= 100

        priority = entity_registry.async_get_entity_id(
            SELECT_DOMAIN, DOMAIN, f"{entry.unique_id}_command_output_source_priority"
        )
        assert priority is not None
        await hass.services.async_call(
            SELECT_DOMAIN,
            SERVICE_SELECT_OPTION,
            {ATTR_ENTITY_ID: priority, ATTR_OPTION: "sbu"},
            blocking=True,
        )
        assert hass.states.get(priority).state == "sbu"  # type: ignore[union-attr]
        await hass.config_entries.async_unload(entry.entry_id)
