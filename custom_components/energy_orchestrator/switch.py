"""The switch platform: each kind of entry adds its own switchs (see kinds.py)."""

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .kinds import kind_of

# Commands go to one device at a time, through the shared link's lock.
PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switchs of the entry's kind."""
    await kind_of(entry).platforms[Platform.SWITCH](hass, entry, async_add_entities)
