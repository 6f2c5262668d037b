"""Diagnostics: what a device or controller entry knows, for a support request."""

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_TYPE
from homeassistant.core import HomeAssistant

from .const import CONTROLLER_TYPES
from .coordinator import EnergyOrchestratorConfigEntry

# A serial number identifies a household's hardware; nothing else here does.
TO_REDACT = {"serial_number", "unique_id"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: ConfigEntry[Any]
) -> dict[str, Any]:
    """Return what the entry knows: a device's or a controller's view."""
    if entry.data.get(CONF_TYPE) in CONTROLLER_TYPES:
        coordinator = entry.runtime_data.coordinator
        status = asdict(coordinator.data)
        return {
            "entry": {
                "data": dict(entry.data),
                "options": dict(entry.options),
                # Peak shaving's further batteries.
                "subentries": [
                    {
                        "type": subentry.subentry_type,
                        "title": subentry.title,
                        "data": dict(subentry.data),
                    }
                    for subentry in entry.subentries.values()
                ],
            },
            "last_update_success": coordinator.last_update_success,
            # What a restart resumes from, and the last step's outcome.
            "saved_state": coordinator.snapshot(),
            "status": {key: str(value) for key, value in status.items()},
        }
    return _device_diagnostics(entry)


def _device_diagnostics(entry: EnergyOrchestratorConfigEntry) -> dict[str, Any]:
    """Return the entry, the device's identity, read plan, link and last poll."""
    coordinator = entry.runtime_data.coordinator
    driver = coordinator.driver
    readings = coordinator.data or {}
    return async_redact_data(
        {
            "entry": {"data": dict(entry.data), "unique_id": entry.unique_id},
            "identity": asdict(entry.runtime_data.identity),
            "driver": {"family": driver.family, **driver.diagnostics()},
            "last_update_success": coordinator.last_update_success,
            "readings": {
                key: {"value": r.value, "unit": str(r.unit), "timestamp": r.timestamp}
                for key, r in sorted(readings.items())
            },
        },
        TO_REDACT,
    )
