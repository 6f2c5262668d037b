"""Describe the controllers' events in the logbook."""

from collections.abc import Callable

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.core import Event, HomeAssistant, callback

from .const import DOMAIN, EVENT_BATTERY_TRANSITION


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe a battery manager's state transitions."""

    @callback
    def async_describe_transition(event: Event) -> dict[str, str]:
        """Say which state the battery went to, from which, and why."""
        data = event.data
        return {
            LOGBOOK_ENTRY_NAME: data["name"],
            LOGBOOK_ENTRY_MESSAGE: (
                f"went from {data['from_state']} to {data['to_state']}: {data['detail']}"
            ),
        }

    async_describe_event(DOMAIN, EVENT_BATTERY_TRANSITION, async_describe_transition)
