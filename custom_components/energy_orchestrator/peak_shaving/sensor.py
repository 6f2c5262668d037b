"""Sensors of peak shaving: its state, the limit in force, the plan."""

from collections.abc import Callable, Mapping
import dataclasses
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from ..const import CONF_CONNECTION_LIMIT_W, CONF_PHASE_LIMIT_W
from ..controller.entity import (
    ControllerSensor,
    ControllerSensorEntityDescription,
    reason_description,
)
from ..lib.control.peak_shaving import (
    PeakShavingStatus,
    ShavingReason,
    ShavingState,
)
from ..lib.rounding import WATT_DECIMALS, rounded
from .coordinator import PeakShavingConfigEntry

type PeakShavingSensorEntityDescription = ControllerSensorEntityDescription[
    PeakShavingStatus
]


# The steps that hold no limit, so measure nothing against one: a figure
# measured against the limit is then unknown, not untrustworthy.
_NOTHING_HELD = frozenset({ShavingReason.STOPPED, ShavingReason.NO_FORECAST_YET})


def _power(
    key: str, value_fn: Callable[[PeakShavingStatus], StateType]
) -> PeakShavingSensorEntityDescription:
    """Return the description of a power figure."""
    return ControllerSensorEntityDescription[PeakShavingStatus](
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=value_fn,
    )


def _headroom(
    key: str, value_fn: Callable[[PeakShavingStatus], float | None]
) -> PeakShavingSensorEntityDescription:
    """Return the description of a headroom: the meter read against a limit.

    Missing while no limit is held (stopped, no forecast yet), it is
    unknown; missing for any other reason (the meter or a phase cannot be
    read), it cannot be trusted and is unavailable.
    """
    return dataclasses.replace(
        _power(key, value_fn),
        available_fn=lambda status: (
            value_fn(status) is not None or status.reason in _NOTHING_HELD
        ),
    )


def _plan(status: PeakShavingStatus) -> Mapping[str, Any]:
    """Return the plan as rows a dashboard chart can draw, and how it forecast."""
    return {
        "forecast_caution": status.forecast_caution,
        "load_scale": round(status.load_scale, 3),
        "heavy_stretch_hours": status.heavy_stretch_h,
        "plan": [
            {
                "start": row.start.isoformat(),
                "soc": round(row.soc, 1),
                "grid_power": round(row.grid_w),
                "net_load": None if row.net_load_w is None else round(row.net_load_w),
            }
            for row in status.plan
        ],
    }


SENSORS: tuple[PeakShavingSensorEntityDescription, ...] = (
    ControllerSensorEntityDescription[PeakShavingStatus](
        key="state",
        translation_key="peak_shaving_state",
        # Peak shaving's state is what the device is for: named by the device.
        name=None,
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in ShavingState],
        value_fn=lambda status: status.state.value,
        attributes_fn=lambda status: {
            "reason": status.reason,
            "cannot_hold_from": status.cannot_hold_from.isoformat()
            if status.cannot_hold_from
            else None,
        },
    ),
    reason_description("peak_shaving_reason", ShavingReason),
    dataclasses.replace(
        _power("active_import_limit", lambda status: status.active_import_limit_w),
        # Lifted for a request above the peak limit (a deadline car's): by
        # how much, and by whom.
        attributes_fn=lambda status: {
            "lift": status.peak_lift_w,
            "lifted_by": list(status.lifted_by),
        },
    ),
    ControllerSensorEntityDescription[PeakShavingStatus](
        key="planned_peak",
        translation_key="planned_peak",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda status: status.planned_peak_w,
        attributes_fn=_plan,
    ),
    ControllerSensorEntityDescription[PeakShavingStatus](
        key="planned_soc",
        translation_key="planned_soc",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda status: status.planned_soc_now,
        # What the plan holds for later: a battery manager stops selling there.
        attributes_fn=lambda status: {"reserve": status.reserve_soc},
    ),
    _headroom("headroom", lambda status: status.headroom_w),
    _headroom("phase_headroom", lambda status: status.phase_headroom_w),
    _headroom("connection_headroom", lambda status: status.connection_headroom_w),
    _power("billed_peak", lambda status: status.billed_peak_w),
    # The command goes out unrounded; shown to 0.1 W like the other powers.
    _power(
        "battery_setpoint",
        lambda status: rounded(status.battery_setpoint_w, WATT_DECIMALS),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PeakShavingConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the peak-shaving sensors."""
    runtime = entry.runtime_data
    # A limit's headroom exists only where the limit is set.
    unset = {
        key
        for key, option in (
            ("phase_headroom", CONF_PHASE_LIMIT_W),
            ("connection_headroom", CONF_CONNECTION_LIMIT_W),
        )
        if entry.options.get(option) is None
    }
    async_add_entities(
        PeakShavingSensor(runtime.coordinator, runtime.device_info, description)
        for description in SENSORS
        if description.key not in unset
    )


class PeakShavingSensor(ControllerSensor[PeakShavingStatus]):
    """One figure of peak shaving."""

    # The plan is for the dashboard now, not for the database.
    _unrecorded_attributes = frozenset({"plan"})
