"""Sensors of a battery manager: state of charge, counted charge and energy, state.

And the plan the battery follows: its mode now, the plan as an attribute,
made from the manager's own tariff or by a flexible loads entry that plans
the battery with its loads (``follows``, ``planned_by``).
"""

from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfEnergy, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..controller.entity import (
    ControllerSensor,
    ControllerSensorEntityDescription,
    reason_description,
)
from ..lib.control.battery_manager import BatteryState, BatteryStatus, Reason
from ..lib.rounding import PERCENT_DECIMALS, rounded
from .coordinator import BatteryManagerConfigEntry

# Amp-hours have no unit constant or device class in Home Assistant.
AMPERE_HOUR = "Ah"


type BatteryManagerSensorEntityDescription = ControllerSensorEntityDescription[
    BatteryStatus
]


def _minutes_in_state(status: BatteryStatus) -> int:
    """Return whole minutes since the last transition.

    Whole minutes, so the sensor changes once a minute rather than every step.
    """
    return int((status.now - status.state_since).total_seconds() // 60)


def _planned_mode(status: BatteryStatus) -> str | None:
    """Return the price plan's mode now, None without a plan."""
    plan = status.price_plan
    slot = plan.slot_at(status.now) if plan is not None else None
    return slot.mode.value if slot is not None else None


def _plan_rows(status: BatteryStatus) -> dict[str, Any]:
    """Return the price plan as rows a chart can draw: per slot mode, price, SOC."""
    plan = status.price_plan
    if plan is None:
        return {
            "plan": [],
            "made_at": None,
            "saving": None,
            "follows": None,
            "planned_by": None,
        }
    return {
        "plan": [
            {
                "start": slot.start.isoformat(),
                "mode": slot.mode.value,
                "reason": slot.reason.value,
                "price": slot.price,
                "soc": slot.soc,
                "power": slot.battery_w,
            }
            for slot in plan.slots
        ],
        "made_at": plan.made_at.isoformat(),
        "saving": plan.saving,
        "follows": status.follows,
        "planned_by": status.planned_by,
    }


SENSORS: tuple[BatteryManagerSensorEntityDescription, ...] = (
    ControllerSensorEntityDescription[BatteryStatus](
        key="soc",
        translation_key="estimated_soc",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda status: status.soc,
        # The uncertainty is one sigma, in percentage points: the state
        # machine judges the floor and the ceiling by it.
        attributes_fn=lambda status: {
            "estimate_source": status.soc_source,
            "uncertainty": status.soc_uncertainty,
        },
    ),
    ControllerSensorEntityDescription[BatteryStatus](
        key="ah_charged",
        translation_key="ah_charged",
        native_unit_of_measurement=AMPERE_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=lambda status: status.ah_charged,
    ),
    ControllerSensorEntityDescription[BatteryStatus](
        key="ah_discharged",
        translation_key="ah_discharged",
        native_unit_of_measurement=AMPERE_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=lambda status: status.ah_discharged,
    ),
    # The Energy dashboard's battery: energy in and out, counted from the
    # battery's voltage and current (or power) inputs.
    ControllerSensorEntityDescription[BatteryStatus](
        key="battery_charge_energy",
        # The device is the battery: "Charge energy", not "Battery charge energy".
        translation_key="part_battery_charge_energy",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=lambda status: status.energy_charged_wh,
    ),
    ControllerSensorEntityDescription[BatteryStatus](
        key="battery_discharge_energy",
        translation_key="part_battery_discharge_energy",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=lambda status: status.energy_discharged_wh,
    ),
    ControllerSensorEntityDescription[BatteryStatus](
        key="coulombic_efficiency",
        translation_key="coulombic_efficiency",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=1,
        # A ratio shown in %: rounded again, as 0.985 * 100 is 98.50000000000001.
        value_fn=lambda status: rounded(
            status.coulombic_efficiency * 100, PERCENT_DECIMALS
        ),
    ),
    ControllerSensorEntityDescription[BatteryStatus](
        key="learned_capacity",
        translation_key="learned_capacity",
        native_unit_of_measurement=AMPERE_HOUR,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=1,
        value_fn=lambda status: status.learned_capacity_ah,
        attributes_fn=lambda status: {
            "uncertainty": status.learned_capacity_uncertainty_ah
        },
    ),
    ControllerSensorEntityDescription[BatteryStatus](
        key="state_of_health",
        translation_key="state_of_health",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=0,
        value_fn=lambda status: status.state_of_health,
    ),
    ControllerSensorEntityDescription[BatteryStatus](
        key="state",
        translation_key="battery_state",
        # The manager's state is what the device is for: named by the device.
        name=None,
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in BatteryState],
        value_fn=lambda status: status.state.value,
        attributes_fn=lambda status: {
            "reason": status.reason,
            "detail": status.detail,
            "since": status.state_since.isoformat(),
            "mode": status.mode.value,
            "peak_reserve": status.reserve_soc,
        },
    ),
    reason_description("battery_reason", Reason),
    ControllerSensorEntityDescription[BatteryStatus](
        key="time_in_state",
        translation_key="time_in_state",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        value_fn=_minutes_in_state,
    ),
    # The plan's mode now (its own tariff's, or the flexible loads'), and
    # the plan for a dashboard.
    ControllerSensorEntityDescription[BatteryStatus](
        key="price_plan",
        translation_key="battery_price_plan",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in BatteryState],
        value_fn=_planned_mode,
        attributes_fn=_plan_rows,
    ),
)


class BatteryManagerSensor(ControllerSensor[BatteryStatus]):
    """One figure of a battery manager."""

    # The plan is for the dashboard now, not for the database.
    _unrecorded_attributes = frozenset({"plan"})


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BatteryManagerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the battery manager's sensors."""
    runtime = entry.runtime_data
    async_add_entities(
        BatteryManagerSensor(runtime.coordinator, runtime.device_info, description)
        for description in SENSORS
    )
