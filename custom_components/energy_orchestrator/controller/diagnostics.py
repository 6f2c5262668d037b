"""Diagnostics of a controller entry: its settings, saved state and last step.

One function serves the three controller kinds: their entries meet here as
``ConfigEntry[Any]`` (see ``controller/base.py``).
"""

from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any

from homeassistant.config_entries import ConfigEntry


def controller_diagnostics(entry: ConfigEntry[Any]) -> dict[str, Any]:
    """Return the entry's settings, what a restart resumes from, the last step."""
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
        "status": {key: _plain(value) for key, value in status.items()},
    }


def _plain(value: Any) -> Any:
    """Return a status value as JSON keeps it: times as ISO 8601, enums as their value."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
