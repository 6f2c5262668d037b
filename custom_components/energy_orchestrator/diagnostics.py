"""Diagnostics: what a device or controller entry knows, for a support request."""

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .kinds import kind_of


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: ConfigEntry[Any]
) -> dict[str, Any]:
    """Return what the entry knows: a device's or a controller's view."""
    return kind_of(entry).diagnostics(entry)
