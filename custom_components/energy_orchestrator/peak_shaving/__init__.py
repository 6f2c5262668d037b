"""The peak-shaving entry: the grid connection held under its limits.

Inputs are the grid meter (optionally per phase), each battery's power and
SOC (optionally its voltage), and optionally PV and a PV forecast, from any
integration; the outputs are the numbers that set each battery's power. The
entry's own battery lives in its data and options, further batteries in
subentries. The limiter, the planner and the battery bank live HA-free in
``lib/control/``.
"""

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from ..controller.base import async_setup_controller, async_unload_controller
from ..controller.entity import controller_device_info
from . import sensor
from .coordinator import (
    PeakShavingConfigEntry,
    PeakShavingCoordinator,
    PeakShavingRuntimeData,
)

# Each platform's set-up for this kind's entries.
PLATFORMS = {
    Platform.SENSOR: sensor.async_setup_entry,
}


async def async_setup_peak_shaving(
    hass: HomeAssistant, entry: PeakShavingConfigEntry
) -> None:
    """Restore the billed peak, seed the forecasts, take the first step."""
    coordinator = PeakShavingCoordinator(hass, entry)
    runtime_data = PeakShavingRuntimeData(
        coordinator=coordinator,
        device_info=controller_device_info(entry, "Peak shaving"),
    )
    await async_setup_controller(hass, entry, coordinator, runtime_data)
    entry.async_on_unload(entry.add_update_listener(_async_reload))


async def _async_reload(hass: HomeAssistant, entry: PeakShavingConfigEntry) -> None:
    """Start again with changed settings or batteries."""
    hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_unload_peak_shaving(
    hass: HomeAssistant, entry: PeakShavingConfigEntry
) -> bool:
    """Set the battery to 0 W, save the billed peak, remove the entities."""
    return await async_unload_controller(hass, entry)
