"""The battery manager entry: SOC from counted charge, charge/rest/sell states.

Inputs (voltage, current or power, temperature, a BMS's SOC) are entities of
any integration; outputs are the entities that put an inverter into charge,
rest or sell. The manager itself lives HA-free in ``lib/control/``.
"""

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from ..controller.base import async_setup_controller, async_unload_controller
from ..controller.entity import controller_device_info
from . import number, select, sensor
from .coordinator import (
    BatteryManagerConfigEntry,
    BatteryManagerCoordinator,
    BatteryManagerRuntimeData,
)

# Each platform's set-up for this kind's entries.
PLATFORMS = {
    Platform.NUMBER: number.async_setup_entry,
    Platform.SELECT: select.async_setup_entry,
    Platform.SENSOR: sensor.async_setup_entry,
}


async def async_setup_battery_manager(
    hass: HomeAssistant, entry: BatteryManagerConfigEntry
) -> None:
    """Restore the manager, take the first step, add its entities."""
    coordinator = BatteryManagerCoordinator(hass, entry)
    runtime_data = BatteryManagerRuntimeData(
        coordinator=coordinator,
        device_info=controller_device_info(entry, "Battery manager"),
    )
    await async_setup_controller(hass, entry, coordinator, runtime_data)


async def async_unload_battery_manager(
    hass: HomeAssistant, entry: BatteryManagerConfigEntry
) -> bool:
    """Put the battery at rest, save the count, remove the entities."""
    return await async_unload_controller(hass, entry)
