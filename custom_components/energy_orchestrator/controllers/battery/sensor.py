"""Sensors of a battery manager: state of charge, counted charge, its state."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from ...control.battery_manager import BatteryState, BatteryStatus
from ..entity import ControllerEntity
from .coordinator import BatteryManagerConfigEntry, BatteryManagerCoordinator

# Entities read the coordinator's status; nothing here talks to a device.
PARALLEL_UPDATES = 0

# Amp-hours have no unit constant or device class in Home Assistant.
AMPERE_HOUR = "Ah"


@dataclass(frozen=True, kw_only=True)
class BatteryManagerSensorEntityDescription(SensorEntityDescription):
    """Describes a sensor of a battery manager."""

    value_fn: Callable[[BatteryStatus], StateType | datetime]
    attributes_fn: Callable[[BatteryStatus], Mapping[str, Any]] | None = None


def _minutes_in_state(status: BatteryStatus) -> int:
    """Return whole minutes since the last transition.

    Whole minutes, so the sensor changes once a minute rather than every step.
    """
    return int((status.now - status.state_since).total_seconds() // 60)


SENSORS: tuple[BatteryManagerSensorEntityDescription, ...] = (
    BatteryManagerSensorEntityDescription(
        key="soc",
        translation_key="estimated_soc",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda status: status.soc,
        attributes_fn=lambda status: {"estimate_source": status.soc_source},
    ),
    BatteryManagerSensorEntityDescription(
        key="ah_charged",
        translation_key="ah_charged",
        native_unit_of_measurement=AMPERE_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=lambda status: status.ah_charged,
    ),
    BatteryManagerSensorEntityDescription(
        key="ah_discharged",
        translation_key="ah_discharged",
        native_unit_of_measurement=AMPERE_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=lambda status: status.ah_discharged,
    ),
    BatteryManagerSensorEntityDescription(
        key="coulombic_efficiency",
        translation_key="coulombic_efficiency",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=1,
        value_fn=lambda status: status.coulombic_efficiency * 100,
    ),
    BatteryManagerSensorEntityDescription(
        key="learned_capacity",
        translation_key="learned_capacity",
        native_unit_of_measurement=AMPERE_HOUR,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=1,
        value_fn=lambda status: status.learned_capacity_ah,
    ),
    BatteryManagerSensorEntityDescription(
        key="state_of_health",
        translation_key="state_of_health",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=0,
        value_fn=lambda status: status.state_of_health,
    ),
    BatteryManagerSensorEntityDescription(
        key="state",
        translation_key="battery_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in BatteryState],
        value_fn=lambda status: status.state.value,
        attributes_fn=lambda status: {
            "reason": status.reason,
            "detail": status.detail,
            "since": status.state_since.isoformat(),
            "mode": status.mode.value,
        },
    ),
    BatteryManagerSensorEntityDescription(
        key="time_in_state",
        translation_key="time_in_state",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        value_fn=_minutes_in_state,
    ),
)


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


class BatteryManagerSensor(ControllerEntity[BatteryManagerCoordinator], SensorEntity):
    """A sensor showing one figure of the battery manager's status."""

    entity_description: BatteryManagerSensorEntityDescription

    @property
    @override
    def native_value(self) -> StateType | datetime:
        """Return the figure from the last step."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    @override
    def available(self) -> bool:
        """Return whether the figure is known (a SOC not yet estimated is not)."""
        return super().available and self.native_value is not None

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Return the figure's context (the reason of a state, for one)."""
        if (attributes_fn := self.entity_description.attributes_fn) is None:
            return None
        return attributes_fn(self.coordinator.data)
