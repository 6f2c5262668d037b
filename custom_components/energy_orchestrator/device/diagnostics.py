"""Diagnostics of a device entry: identity, read plan, link, connection, last poll."""

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .coordinator import DeviceConfigEntry
from .links import async_connection_info

# A serial number identifies a household's hardware; a host or a serial URL
# can name a machine outside the house.
TO_REDACT = {"serial_number", "unique_id", "host", "device", "channel"}


def device_diagnostics(entry: DeviceConfigEntry) -> dict[str, Any]:
    """Return the entry, the device's identity, read plan, link and last poll."""
    coordinator = entry.runtime_data.coordinator
    driver = coordinator.driver
    readings = coordinator.data or {}
    return async_redact_data(
        {
            "entry": {"data": dict(entry.data), "unique_id": entry.unique_id},
            "identity": asdict(entry.runtime_data.identity),
            "driver": {"family": driver.family, **driver.diagnostics()},
            **_connection(coordinator.hass, entry),
            "last_update_success": coordinator.last_update_success,
            "readings": {
                key: {"value": r.value, "unit": str(r.unit), "timestamp": r.timestamp}
                for key, r in sorted(readings.items())
            },
        },
        TO_REDACT,
    )


def _connection(hass: HomeAssistant, entry: DeviceConfigEntry) -> dict[str, Any]:
    """Return the shared Modbus connection the entry is on, and who else is.

    Nothing for a device on a raw serial port, which is this integration's
    own.
    """
    if (info := async_connection_info(hass, entry)) is None:
        return {}
    transport, *where = info.endpoint
    shared_with = []
    for entry_id, units in info.units.items():
        if entry_id == entry.entry_id:
            continue
        other = hass.config_entries.async_get_entry(entry_id)
        shared_with.append({"domain": other.domain if other else None, "units": units})
    return {
        "connection": {
            "transport": transport,
            **(
                {"host": where[0], "port": where[1]}
                if len(where) == 2
                else {"device": where[0]}
            ),
            "connected": info.connected,
            "units": info.units[entry.entry_id],
            "shared_with": sorted(
                shared_with, key=lambda o: (str(o["domain"]), o["units"])
            ),
        }
    }
