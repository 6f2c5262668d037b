"""The wallbox manager entry: the car charged from the sun, on one or three phases.

Inputs are the grid meter, the car's power, a plugged-in sensor and the house
battery from any integration; outputs are the wallbox's enable switch, phase
select and current number. The manager lives HA-free in
``lib/control/ev_charging.py``.
"""

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from ..controller.base import async_setup_controller, async_unload_controller
from ..controller.entity import controller_device_info
from . import button, select, sensor
from .coordinator import (
    WallboxManagerConfigEntry,
    WallboxManagerCoordinator,
    WallboxManagerRuntimeData,
)

# Each platform's set-up for this kind's entries.
PLATFORMS = {
    Platform.BUTTON: button.async_setup_entry,
    Platform.SELECT: select.async_setup_entry,
    Platform.SENSOR: sensor.async_setup_entry,
}


async def async_setup_wallbox_manager(
    hass: HomeAssistant, entry: WallboxManagerConfigEntry
) -> None:
    """Resume the session, take the first step, add the entities."""
    coordinator = WallboxManagerCoordinator(hass, entry)
    runtime_data = WallboxManagerRuntimeData(
        coordinator=coordinator,
        device_info=controller_device_info(entry, "Wallbox manager"),
    )
    await async_setup_controller(hass, entry, coordinator, runtime_data)


async def async_unload_wallbox_manager(
    hass: HomeAssistant, entry: WallboxManagerConfigEntry
) -> bool:
    """Stop the wallbox, save the session, remove the entities."""
    return await async_unload_controller(hass, entry)
