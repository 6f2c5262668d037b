"""Repairs: the fix flows of the controllers' repair issues.

The issues themselves are raised while an entry runs
(``controller/issues.py``, a device's energy sensors); Home Assistant asks here for the flow of one
the user opens. Each issue's data names its entry and what to set right;
an issue goes with its entry, so the entry is there.
"""

from homeassistant.components.repairs import RepairsFlow
from homeassistant.core import HomeAssistant

from .controller.issues import entity_fields
from .controller.repairs import ReplaceInputFlow
from .device.coordinator import METER_REPLACED
from .device.repairs import MeterReplacedFlow
from .kinds import kind_of
from .peak_shaving.flow import PV_FORECAST_ENTRY_MISSING
from .peak_shaving.repairs import PvForecastEntryFlow


async def async_create_fix_flow(
    hass: HomeAssistant,
    issue_id: str,
    data: dict[str, str | int | float | None] | None,
) -> RepairsFlow:
    """Return the flow that sets an issue right."""
    assert data is not None, "every issue names its entry and what to set right"
    entry = hass.config_entries.async_get_known_entry(str(data["entry_id"]))
    if data["code"] == METER_REPLACED:
        return MeterReplacedFlow(entry, str(data["subject"]))
    if data["code"] == PV_FORECAST_ENTRY_MISSING:
        return PvForecastEntryFlow(entry)
    # Every other fixable issue is an input that no longer exists.
    form = kind_of(entry).form
    assert form is not None, "only controllers raise issues"
    field = str(data["field"])
    subentry_id = data["subentry_id"]
    return ReplaceInputFlow(
        entry,
        subentry_id=str(subentry_id) if subentry_id else None,
        field=field,
        entity_id=str(data["subject"]),
        picker=entity_fields(form)[field],
    )
