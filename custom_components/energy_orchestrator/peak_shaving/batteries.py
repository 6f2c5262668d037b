"""One battery of a peak-shaving entry: where it is read and set, its limits.

Each battery is read from its own entities (power, SOC, optionally its
voltage) and set through its own number. The entry's own battery keeps its
entities in the entry's data and its limits in the options (as before
there were several); a further battery keeps both in its subentry, under
the same keys, so one set of functions reads either. The coordinator
gathers them into the control layer's ``BatteryBank``, which makes them one
battery for the planner and splits the setpoint back over them.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..const import (
    CONF_BATTERY_CAPACITY_KWH,
    CONF_BATTERY_MAX_KW,
    CONF_BATTERY_POWER_ENTITY,
    CONF_BATTERY_SETPOINT_ENTITY,
    CONF_BATTERY_SOC_ENTITY,
    CONF_BATTERY_SOC_MAX,
    CONF_BATTERY_SOC_MIN,
    CONF_BATTERY_VOLTAGE_ENTITY,
    CONF_BATTERY_VOLTAGE_MAX_V,
    CONF_BATTERY_VOLTAGE_MIN_V,
    CONF_INVERT_SETPOINT,
)
from ..lib.control.energy_planner import BatteryLimits
from ..lib.control.setpoint_limits import VoltageGuard


@dataclass(frozen=True)
class BatteryEntities:
    """Where one battery is read and set."""

    name: str
    power: str
    soc: str
    setpoint: str
    invert_setpoint: bool
    voltage: str | None


def battery_limits(values: Mapping[str, Any]) -> BatteryLimits:
    """Return a battery's limits from its settings (KeyError if one is missing)."""
    return BatteryLimits(
        capacity_wh=float(values[CONF_BATTERY_CAPACITY_KWH]) * 1000,
        max_charge_w=float(values[CONF_BATTERY_MAX_KW]) * 1000,
        max_discharge_w=float(values[CONF_BATTERY_MAX_KW]) * 1000,
        soc_min=float(values[CONF_BATTERY_SOC_MIN]),
        soc_max=float(values[CONF_BATTERY_SOC_MAX]),
    )


def voltage_guard(values: Mapping[str, Any]) -> VoltageGuard | None:
    """Return a battery's voltage limits, None where it has none."""
    lowest = values.get(CONF_BATTERY_VOLTAGE_MIN_V)
    highest = values.get(CONF_BATTERY_VOLTAGE_MAX_V)
    if lowest is None and highest is None:
        return None
    if lowest is None or highest is None:
        raise ValueError("the battery's voltage limits go together: both or none")
    return VoltageGuard(float(lowest), float(highest))


def battery_entities(name: str, data: Mapping[str, Any]) -> BatteryEntities:
    """Return where a battery is read and set, from its entry's or subentry's data."""
    return BatteryEntities(
        name=name,
        power=data[CONF_BATTERY_POWER_ENTITY],
        soc=data[CONF_BATTERY_SOC_ENTITY],
        setpoint=data[CONF_BATTERY_SETPOINT_ENTITY],
        invert_setpoint=bool(data.get(CONF_INVERT_SETPOINT)),
        voltage=data.get(CONF_BATTERY_VOLTAGE_ENTITY),
    )
