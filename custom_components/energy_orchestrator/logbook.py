"""Describe the controllers' events in the logbook."""

from collections.abc import Callable

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_ENTITY_ID,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.core import Event, HomeAssistant, callback

from .const import DOMAIN, EVENT_BATTERY_TRANSITION, EVENT_LOAD_SWITCHED
from .lib.control.flexible_loads.netting import LoadReason

# Why a flexible load went on or off, as the logbook says it.
LOAD_REASONS = {
    LoadReason.SOAKING_SURPLUS: "soaking up surplus",
    LoadReason.MEETING_NEED: "meeting its need by the deadline",
    LoadReason.CHEAP_HOUR: "a cheap hour in the plan",
    LoadReason.MIN_ON_TIME: "held by its minimum on time",
    LoadReason.MIN_OFF_TIME: "held by its minimum off time",
    LoadReason.UNINTERRUPTED_RUN: "its run must not be interrupted",
    LoadReason.AVOIDING_IMPORT: "the period would end importing",
    LoadReason.WAITING: "waiting for surplus or a cheap hour",
    LoadReason.NEED_MET: "its need is met",
    LoadReason.OUTSIDE_WINDOW: "outside its window",
    LoadReason.BOOST: "boosted",
}


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe a battery manager's state transitions and the loads' switching."""

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

    @callback
    def async_describe_load_switched(event: Event) -> dict[str, str]:
        """Say that a load went on or off, and why."""
        data = event.data
        reason = data["reason"]
        return {
            LOGBOOK_ENTRY_NAME: data["name"],
            LOGBOOK_ENTRY_ENTITY_ID: data["entity_id"],
            LOGBOOK_ENTRY_MESSAGE: (
                f"switched {data['state']}: {LOAD_REASONS.get(reason, reason)}"
            ),
        }

    async_describe_event(DOMAIN, EVENT_LOAD_SWITCHED, async_describe_load_switched)
