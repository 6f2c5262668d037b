"""Diagnostics of a controller entry: its settings, saved state and last step.

One function serves the three controller kinds: their entries meet here as
``ConfigEntry[Any]`` (see ``controller/base.py``).
"""

from dataclasses import asdict
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
        "status": {key: str(value) for key, value in status.items()},
    }
