"""Buttons: the controllers' (a wallbox manager's "charge now"); devices have none."""

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .controllers.platforms import controller_platform

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a controller's buttons."""
    if (setup := controller_platform(entry, Platform.BUTTON)) is not None:
        await setup(hass, entry, async_add_entities)
