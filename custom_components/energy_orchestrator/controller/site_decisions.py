"""The site's last decisions: which controller changed which output, and why.

Every controller writes through its ``OutputWriter``; when a write changes
an output, the writer records it here with the layer of the site's
priority order that decided it and the controller's reason. The site view
shows the latest change and each output's.
"""

from dataclasses import dataclass
from datetime import datetime

from homeassistant.core import HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from ..const import DOMAIN
from ..lib.control.arbitration import Layer


@dataclass(frozen=True, kw_only=True)
class Why:
    """Why a controller writes what it writes: a layer and its reason code."""

    layer: Layer
    reason: str


@dataclass(frozen=True, kw_only=True)
class OutputChange:
    """One change of an output's value."""

    entity_id: str
    value: float | str | bool
    controller: str
    layer: Layer
    reason: str
    at: datetime


# Every controller's stop leaves its outputs in their documented safe state.
TO_SAFE_STATE = Why(layer=Layer.SAFETY, reason="safe_state")

CHANGES: HassKey[dict[str, OutputChange]] = HassKey(f"{DOMAIN}_output_changes")


@callback
def async_record_change(hass: HomeAssistant, change: OutputChange) -> None:
    """Keep an output's change when its value differs from the last one kept."""
    changes = hass.data.setdefault(CHANGES, {})
    last = changes.get(change.entity_id)
    if last is not None and last.value == change.value:
        return
    # Kept in the order they came: of two changes in one instant, the later.
    changes.pop(change.entity_id, None)
    changes[change.entity_id] = change


@callback
def async_output_changes(hass: HomeAssistant) -> dict[str, OutputChange]:
    """Return each output's last change, the latest last."""
    changes = hass.data.get(CHANGES)
    return {} if changes is None else dict(changes)
