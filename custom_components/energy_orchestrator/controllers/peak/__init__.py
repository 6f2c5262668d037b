"""The peak-shaving entry: the grid connection held under its limits.

Inputs are the grid meter, the battery's power and SOC (and optionally PV
and a PV forecast) from any integration; the output is the number that sets
the battery's power. The limiter and the planner live HA-free in
``control/peak_shaving.py``.
"""

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant

from ..entity import controller_device_info
from .coordinator import (
    PeakShavingConfigEntry,
    PeakShavingCoordinator,
    PeakShavingRuntimeData,
)

PLATFORMS = [Platform.SENSOR]


async def async_setup_peak_shaving(
    hass: HomeAssistant, entry: PeakShavingConfigEntry
) -> None:
    """Restore the billed peak, seed the forecasts, take the first step."""
    coordinator = PeakShavingCoordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = PeakShavingRuntimeData(
        coordinator=coordinator,
        device_info=controller_device_info(entry, "Peak shaving"),
    )

    async def _async_on_stop(event: Event) -> None:
        """Leave the battery alone and the billed peak on disk."""
        await coordinator.async_stop_steering()

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_on_stop)
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)


async def async_unload_peak_shaving(
    hass: HomeAssistant, entry: PeakShavingConfigEntry
) -> bool:
    """Stop steering the battery and remove the entities."""
    if not await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        return False
    await entry.runtime_data.coordinator.async_stop_steering()
    return True
