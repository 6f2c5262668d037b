"""The flexible loads entry: the site's loads run when energy is cheapest.

Inputs are the grid meter (a power, or import and export energy counters),
optionally a PV power sensor and a PV forecast, and the tariff (fixed
prices, a time-of-use schedule, or price entities of Nord Pool, ENTSO-e,
Tibber, PVPC or Octopus Energy); each load is a subentry naming the switch
or number that drives it, with its power, daily need and window. The plan
and the real-time layer live HA-free in ``lib/control/flexible_loads/``.
"""

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from ..controller.base import async_setup_controller, async_unload_controller
from ..controller.entity import controller_device_info
from . import sensor, switch
from .coordinator import (
    FlexibleLoadsConfigEntry,
    FlexibleLoadsCoordinator,
    FlexibleLoadsRuntimeData,
)

# Each platform's set-up for this kind's entries.
PLATFORMS = {
    Platform.SENSOR: sensor.async_setup_entry,
    Platform.SWITCH: switch.async_setup_entry,
}


async def async_setup_flexible_loads(
    hass: HomeAssistant, entry: FlexibleLoadsConfigEntry
) -> None:
    """Restore the loads' books, seed the forecast, take the first step."""
    coordinator = FlexibleLoadsCoordinator(hass, entry)
    device_info = controller_device_info(entry, "Flexible loads")
    # Each load's device is reached through the controller's: it must exist.
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **device_info
    )
    runtime_data = FlexibleLoadsRuntimeData(
        coordinator=coordinator, device_info=device_info, device_id=device.id
    )
    await async_setup_controller(hass, entry, coordinator, runtime_data)
    entry.async_on_unload(entry.add_update_listener(_async_reload))


async def _async_reload(hass: HomeAssistant, entry: FlexibleLoadsConfigEntry) -> None:
    """Start again with changed settings or loads."""
    hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_unload_flexible_loads(
    hass: HomeAssistant, entry: FlexibleLoadsConfigEntry
) -> bool:
    """Leave the loads in the safe state, save their books, remove the entities."""
    return await async_unload_controller(hass, entry)
