"""Diagnostics of a device entry: identity, read plan, link counters, last poll."""

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data

from .coordinator import DeviceConfigEntry

# A serial number identifies a household's hardware; a host or a serial URL
# can name a machine outside the house.
TO_REDACT = {"serial_number", "unique_id", "host", "device"}


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
            "last_update_success": coordinator.last_update_success,
            "readings": {
                key: {"value": r.value, "unit": str(r.unit), "timestamp": r.timestamp}
                for key, r in sorted(readings.items())
            },
        },
        TO_REDACT,
    )
