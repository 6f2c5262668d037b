"""The loads of a flexible loads entry, and what each draws by its entity's state.

The controller reads a load's power from its power sensor where it has
one, else from its switch (on: its power) or its number (in W, kW or A);
peak shaving reads the same from the recorder to learn the house's load
without the loads.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, STATE_OFF, STATE_ON
from homeassistant.core import State
from homeassistant.util.unit_conversion import PowerConverter

from ..const import (
    CONF_LOAD_ENTITY,
    CONF_LOAD_POWER_ENTITY,
    CONF_WATTS_PER_AMP,
    SUBENTRY_LOAD,
)
from ..lib.control.flexible_loads.loads import FlexibleLoad, LoadControl
from .settings import load_from


@dataclass(frozen=True)
class EntryLoad:
    """One load of the entry: its subentry, its entity, the control layer's load."""

    subentry_id: str
    title: str
    entity_id: str
    power_entity: str | None
    watts_per_amp: float
    load: FlexibleLoad


def entry_loads(entry: ConfigEntry[Any]) -> list[EntryLoad]:
    """Return the entry's loads, one per subentry, named by their subentry id."""
    return [
        EntryLoad(
            subentry_id=subentry.subentry_id,
            title=subentry.title,
            entity_id=subentry.data[CONF_LOAD_ENTITY],
            power_entity=subentry.data.get(CONF_LOAD_POWER_ENTITY),
            watts_per_amp=float(subentry.data.get(CONF_WATTS_PER_AMP, 230)),
            load=load_from(subentry.subentry_id, subentry.data),
        )
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_LOAD
    ]


def watts_per_unit(state: State, watts_per_amp: float) -> float:
    """Return what one unit of a load's number is in W (W, kW, or A)."""
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    if unit == "A":
        return watts_per_amp
    if unit in PowerConverter.VALID_UNITS:
        return PowerConverter.convert(1.0, unit, "W")
    return 1.0


def commanded_w(load: EntryLoad, state: State) -> float | None:
    """Return what the load's switch or number says it draws (W), None when unreadable."""
    if load.load.control is LoadControl.SWITCH:
        if state.state not in (STATE_ON, STATE_OFF):
            return None
        return load.load.power_w if state.state == STATE_ON else 0.0
    try:
        return float(state.state) * watts_per_unit(state, load.watts_per_amp)
    except ValueError:
        return None


def commanded_history(
    load: EntryLoad, states: Sequence[State | dict[str, Any]]
) -> list[tuple[datetime, float]]:
    """Return a recorder history of the load's entity as (time, W), unreadable left out."""
    values = []
    for state in states:
        if isinstance(state, State) and (watts := commanded_w(load, state)) is not None:
            values.append((state.last_changed.astimezone(UTC), watts))
    return values
