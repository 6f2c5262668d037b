"""The button platform: each kind of entry adds its own buttons (see kinds.py)."""

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .kinds import kind_of

# Reads go through the coordinators; these entities never talk to a device.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the buttons of the entry's kind."""
    await kind_of(entry).platforms[Platform.BUTTON](hass, entry, async_add_entities)
