"""The site entry: one device that shows how the controllers share the site.

It steers nothing: its sensors show who drives each output, which layer of
the site's priority order decided the last change, the room left under the
site's limits and the combined plan (the battery's, the cars', the loads').
"""

from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from ..controller.entity import controller_device_info
from . import sensor
from .coordinator import SiteConfigEntry, SiteRuntimeData, SiteViewCoordinator
from .sensor import change_attributes

PLATFORMS = {Platform.SENSOR: sensor.async_setup_entry}


async def async_setup_site(hass: HomeAssistant, entry: SiteConfigEntry) -> None:
    """Gather the view once, then every controller step."""
    coordinator = SiteViewCoordinator(hass, entry)
    entry.runtime_data = SiteRuntimeData(
        coordinator=coordinator, device_info=controller_device_info(entry, "Site")
    )
    await coordinator.async_config_entry_first_refresh()


async def async_unload_site(hass: HomeAssistant, entry: SiteConfigEntry) -> bool:
    """Nothing runs beyond the coordinator, which stops with the entry."""
    return True


def site_diagnostics(entry: SiteConfigEntry) -> dict[str, Any]:
    """Return the view: owners, changes, headroom, the plan."""
    view = entry.runtime_data.coordinator.data
    return {
        "owners": view.owners,
        "changes": {
            entity_id: change_attributes(change)
            for entity_id, change in sorted(view.changes.items())
        },
        "grid_headroom_w": view.grid_headroom_w,
        "phase_headroom_w": view.phase_headroom_w,
        "connection_headroom_w": view.connection_headroom_w,
        "battery_plan_rows": len(view.battery),
        "cars": len(view.cars),
        "loads": len(view.loads),
    }
