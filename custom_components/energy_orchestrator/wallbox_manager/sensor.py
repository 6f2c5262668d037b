"""Sensors of the wallbox manager: what it does, on how many phases, from what."""

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import PERCENTAGE, UnitOfElectricCurrent, UnitOfEnergy
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..controller.entity import (
    ControllerSensor,
    ControllerSensorEntityDescription,
    reason_description,
)
from ..lib.control.ev_charging import ChargingReason, EvStatus
from .coordinator import WallboxManagerConfigEntry

STATES = ["idle", "waiting", "charging", "switching_phases", "complete"]


def _share(status: EvStatus) -> float | None:
    """Return the session's solar share in %."""
    share = status.solar_share
    return None if share is None else round(100 * share, 1)


SENSORS: tuple[ControllerSensorEntityDescription[EvStatus], ...] = (
    ControllerSensorEntityDescription[EvStatus](
        key="state",
        translation_key="wallbox_state",
        # The manager's state is what the device is for: named by the device.
        name=None,
        device_class=SensorDeviceClass.ENUM,
        options=STATES,
        value_fn=lambda status: status.state,
        attributes_fn=lambda status: {
            "reason": status.reason,
            "mode": status.mode.value,
        },
    ),
    reason_description("wallbox_reason", ChargingReason),
    ControllerSensorEntityDescription[EvStatus](
        key="phases_in_use",
        translation_key="phases_in_use",
        value_fn=lambda status: status.phases_in_use,
    ),
    ControllerSensorEntityDescription[EvStatus](
        key="target_current",
        translation_key="target_current",
        device_class=SensorDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda status: (
            status.command.current_a if status.command.enable else 0.0
        ),
    ),
    ControllerSensorEntityDescription[EvStatus](
        key="solar_share",
        translation_key="solar_share",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=_share,
    ),
    ControllerSensorEntityDescription[EvStatus](
        key="session_energy",
        translation_key="session_energy",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        value_fn=lambda status: round(status.session_energy_wh, 1),
        attributes_fn=lambda status: {
            "solar_wh": round(status.solar_energy_wh, 1),
            "battery_wh": round(status.battery_energy_wh, 1),
            "grid_wh": round(status.grid_energy_wh, 1),
        },
    ),
    ControllerSensorEntityDescription[EvStatus](
        key="deadline_start",
        translation_key="deadline_start",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda status: status.deadline_start,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WallboxManagerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the wallbox manager's sensors."""
    runtime = entry.runtime_data
    async_add_entities(
        ControllerSensor[EvStatus](
            runtime.coordinator, runtime.device_info, description
        )
        for description in SENSORS
    )
