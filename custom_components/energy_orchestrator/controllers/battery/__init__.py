"""The battery manager entry: SOC from counted charge, charge/rest/sell states.

Inputs (voltage, current or power, temperature, a BMS's SOC) are entities of
any integration; outputs are the entities that put an inverter into charge,
rest or sell. The manager itself lives HA-free in ``control/``.
"""

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant

from ...const import LOGGER
from ..entity import controller_device_info
from .coordinator import (
    BatteryManagerConfigEntry,
    BatteryManagerCoordinator,
    BatteryManagerRuntimeData,
)

PLATFORMS = [Platform.NUMBER, Platform.SELECT, Platform.SENSOR]


async def async_setup_battery_manager(
    hass: HomeAssistant, entry: BatteryManagerConfigEntry
) -> None:
    """Restore the manager, take the first step, add its entities."""
    coordinator = BatteryManagerCoordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = BatteryManagerRuntimeData(
        coordinator=coordinator,
        device_info=controller_device_info(entry, "Battery manager"),
    )

    async def _async_on_stop(event: Event) -> None:
        """Leave the battery at rest and the count on disk when HA stops."""
        await _async_stop_steering(coordinator)

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_on_stop)
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)


async def async_unload_battery_manager(
    hass: HomeAssistant, entry: BatteryManagerConfigEntry
) -> bool:
    """Stop steering the battery, save the count, remove the entities."""
    if not await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        return False
    await _async_stop_steering(entry.runtime_data.coordinator)
    return True


async def _async_stop_steering(coordinator: BatteryManagerCoordinator) -> None:
    """Put the outputs to rest and write the manager's state at once."""
    try:
        await coordinator.async_enter_safe_state()
    finally:
        await coordinator.async_save_now()
        LOGGER.debug("%s: state saved, outputs at rest", coordinator.name)
