"""Which module sets up a controller entry's entities on each platform.

The integration's platform modules (sensor.py, number.py, ...) serve device
entries themselves and hand controller entries to the module listed here.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_TYPE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..const import TYPE_BATTERY_MANAGER, TYPE_PEAK_SHAVING, TYPE_WALLBOX_MANAGER
from .battery import (
    number as battery_number,
    select as battery_select,
    sensor as battery_sensor,
)
from .peak import sensor as peak_sensor
from .wallbox import (
    button as wallbox_button,
    select as wallbox_select,
    sensor as wallbox_sensor,
)

type PlatformSetup = Callable[
    [HomeAssistant, Any, AddConfigEntryEntitiesCallback], Awaitable[None]
]

_SETUPS: dict[str, dict[Platform, PlatformSetup]] = {
    TYPE_BATTERY_MANAGER: {
        Platform.NUMBER: battery_number.async_setup_entry,
        Platform.SELECT: battery_select.async_setup_entry,
        Platform.SENSOR: battery_sensor.async_setup_entry,
    },
    TYPE_PEAK_SHAVING: {Platform.SENSOR: peak_sensor.async_setup_entry},
    TYPE_WALLBOX_MANAGER: {
        Platform.BUTTON: wallbox_button.async_setup_entry,
        Platform.SELECT: wallbox_select.async_setup_entry,
        Platform.SENSOR: wallbox_sensor.async_setup_entry,
    },
}


def controller_platform(
    entry: ConfigEntry[Any], platform: Platform
) -> PlatformSetup | None:
    """Return the set-up of a controller entry's entities, None for a device entry."""
    kind: str = entry.data.get(CONF_TYPE, "")
    setups = _SETUPS.get(kind)
    if setups is None:
        return None
    # A controller without entities on this platform adds none.
    setup: PlatformSetup = setups.get(platform, _add_nothing)
    return setup


async def _add_nothing(
    hass: HomeAssistant, entry: Any, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add no entities."""
