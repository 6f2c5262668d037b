"""The site device's sensors: owners, the last decision, headroom, the plan."""

from collections.abc import Mapping
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorStateClass,
)
from homeassistant.const import UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..controller.entity import ControllerSensor, ControllerSensorEntityDescription
from ..controller.site_decisions import OutputChange
from ..lib.control.arbitration import Layer
from ..lib.control.reason_layers import layer_name
from .coordinator import SiteConfigEntry, SiteView


def change_attributes(change: OutputChange) -> dict[str, Any]:
    """Return one output change as an attribute shows it."""
    return {
        "value": change.value,
        "controller": change.controller,
        "layer": layer_name(change.layer),
        "reason": change.reason,
        "at": change.at.isoformat(),
    }


def _last_decision(view: SiteView) -> Mapping[str, Any]:
    """Return what the latest change was: the output, its value, who and why."""
    change = view.last_change
    if change is None:
        return {}
    return {"output": change.entity_id, **change_attributes(change)}


def _outputs(view: SiteView) -> Mapping[str, Any]:
    """Return who drives each output and each one's last change."""
    return {
        "owners": view.owners,
        "changes": {
            entity_id: change_attributes(change)
            for entity_id, change in sorted(view.changes.items())
        },
    }


def _plan(view: SiteView) -> Mapping[str, Any]:
    """Return the combined plan: the battery's rows, its price plan, the cars', the loads'."""
    return {
        "battery": [
            {
                "controller": row.controller,
                "start": row.start.isoformat(),
                "soc": round(row.soc, 1),
                "grid_power": round(row.grid_w),
            }
            for row in view.battery
        ],
        # The battery managers' price plans: per 15-minute slot.
        "battery_prices": [
            {
                "controller": row.controller,
                "start": row.start.isoformat(),
                "mode": row.mode,
                "price": row.price,
                "soc": row.soc,
            }
            for row in view.battery_prices
        ],
        "cars": [
            {
                "controller": car.controller,
                "mode": car.mode,
                "power": round(car.power_w),
                "start": None if car.start is None else car.start.isoformat(),
                "deadline": None if car.deadline is None else car.deadline.isoformat(),
                "target_energy": car.target_kwh,
                "delivered_energy": round(car.delivered_kwh, 3),
                # Where the flexible loads' plan places the session.
                "plan": [
                    {"start": start.isoformat(), "power": round(power)}
                    for start, power in car.plan
                ],
            }
            for car in view.cars
        ],
        "loads": [
            {
                "controller": load.controller,
                "load": load.load,
                "reason": load.reason,
                "power": round(load.power_w),
                "plan": [
                    {"start": start.isoformat(), "power": round(power)}
                    for start, power in load.plan
                ],
            }
            for load in view.loads
        ],
    }


def _headroom(key: str, value: Any) -> ControllerSensorEntityDescription[SiteView]:
    """Return the room left under one of the site's limits.

    Unavailable without a peak shaver stepping: then nobody measures it.
    """
    return ControllerSensorEntityDescription[SiteView](
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=value,
        available_fn=lambda view: value(view) is not None,
    )


SENSORS: tuple[ControllerSensorEntityDescription[SiteView], ...] = (
    ControllerSensorEntityDescription[SiteView](
        key="last_decision",
        translation_key="last_decision",
        device_class=SensorDeviceClass.ENUM,
        options=[layer_name(layer) for layer in reversed(Layer)],
        value_fn=lambda view: (
            None if view.last_change is None else layer_name(view.last_change.layer)
        ),
        attributes_fn=_last_decision,
    ),
    ControllerSensorEntityDescription[SiteView](
        key="owned_outputs",
        translation_key="owned_outputs",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda view: len(view.owners),
        attributes_fn=_outputs,
    ),
    _headroom("grid_headroom", lambda view: view.grid_headroom_w),
    _headroom("phase_headroom", lambda view: view.phase_headroom_w),
    _headroom("connection_headroom", lambda view: view.connection_headroom_w),
    ControllerSensorEntityDescription[SiteView](
        key="site_plan",
        translation_key="site_plan",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda view: view.planned_peak_w,
        attributes_fn=_plan,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SiteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the site device's sensors."""
    runtime = entry.runtime_data
    async_add_entities(
        SiteSensor(runtime.coordinator, runtime.device_info, description)
        for description in SENSORS
    )


class SiteSensor(ControllerSensor[SiteView]):
    """One figure of the site view."""

    # The plan and the changes are for the dashboard now, not for history.
    _unrecorded_attributes = frozenset(
        {"battery", "battery_prices", "cars", "loads", "changes", "owners"}
    )
