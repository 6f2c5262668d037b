"""Sensors: one per canonical value a device really has."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import override

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    EntityCategory,
    UnitOfApparentPower,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfReactivePower,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .const import LOGGER
from .coordinator import EnergyOrchestratorConfigEntry
from .drivers.values import Readings
from .entity import EnergyOrchestratorEntity

# Reads go through the coordinator; entities never talk to the device.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class EnergyOrchestratorSensorEntityDescription(SensorEntityDescription):
    """Describes a sensor for one canonical key."""

    value_fn: Callable[[Readings], StateType]
    # Lifetime counters never go backwards; see MonotonicEnergySensor.
    monotonic: bool = False


def _value(key: str) -> Callable[[Readings], StateType]:
    """Return a function reading a canonical key out of a poll."""

    def value(readings: Readings) -> StateType:
        reading = readings.get(key)
        return None if reading is None else reading.value

    return value


def _power(
    key: str, *, diagnostic: bool = False, enabled: bool = True
) -> EnergyOrchestratorSensorEntityDescription:
    """Describe an active power sensor."""
    return EnergyOrchestratorSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC if diagnostic else None,
        entity_registry_enabled_default=enabled,
        value_fn=_value(key),
    )


def _energy(
    key: str, *, enabled: bool = True
) -> EnergyOrchestratorSensorEntityDescription:
    """Describe a lifetime energy counter the Energy dashboard accepts."""
    return EnergyOrchestratorSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        entity_registry_enabled_default=enabled,
        monotonic=True,
        value_fn=_value(key),
    )


def _electric(
    key: str,
    device_class: SensorDeviceClass,
    unit: str,
    precision: int,
    *,
    enabled: bool = True,
) -> EnergyOrchestratorSensorEntityDescription:
    """Describe a voltage, current or frequency sensor (diagnostic)."""
    return EnergyOrchestratorSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=device_class,
        native_unit_of_measurement=unit,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=precision,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=enabled,
        value_fn=_value(key),
    )


def _power_factor(key: str) -> EnergyOrchestratorSensorEntityDescription:
    """Describe a power factor sensor, shown as the -1..1 the meter reports."""
    return EnergyOrchestratorSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER_FACTOR,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_value(key),
    )


_PHASES = (1, 2, 3)
_VOLTAGE = (SensorDeviceClass.VOLTAGE, UnitOfElectricPotential.VOLT, 1)
_CURRENT = (SensorDeviceClass.CURRENT, UnitOfElectricCurrent.AMPERE, 2)

SENSORS: tuple[EnergyOrchestratorSensorEntityDescription, ...] = (
    _power("grid_power"),
    *(_power(f"grid_power_l{phase}") for phase in _PHASES),
    EnergyOrchestratorSensorEntityDescription(
        key="grid_reactive_power",
        translation_key="grid_reactive_power",
        device_class=SensorDeviceClass.REACTIVE_POWER,
        native_unit_of_measurement=UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_value("grid_reactive_power"),
    ),
    EnergyOrchestratorSensorEntityDescription(
        key="grid_apparent_power",
        translation_key="grid_apparent_power",
        device_class=SensorDeviceClass.APPARENT_POWER,
        native_unit_of_measurement=UnitOfApparentPower.VOLT_AMPERE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_value("grid_apparent_power"),
    ),
    _power_factor("grid_power_factor"),
    *(_power_factor(f"ac_power_factor_l{phase}") for phase in _PHASES),
    _energy("grid_import_energy"),
    _energy("grid_export_energy"),
    *(_energy(f"grid_import_energy_l{phase}", enabled=False) for phase in _PHASES),
    *(_energy(f"grid_export_energy_l{phase}", enabled=False) for phase in _PHASES),
    *(_electric(f"ac_voltage_l{phase}", *_VOLTAGE) for phase in _PHASES),
    *(
        _electric(f"ac_voltage_{pair}", *_VOLTAGE, enabled=False)
        for pair in ("l1_l2", "l2_l3", "l3_l1")
    ),
    *(_electric(f"ac_current_l{phase}", *_CURRENT) for phase in _PHASES),
    _electric("ac_current_neutral", *_CURRENT, enabled=False),
    _electric("frequency", SensorDeviceClass.FREQUENCY, UnitOfFrequency.HERTZ, 2),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EnergyOrchestratorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a sensor for every canonical value the device has.

    What the device has is what its family can report, less the registers
    this very device answered "illegal data address" for while setting up.
    """
    present = entry.runtime_data.coordinator.driver.available_keys()
    async_add_entities(
        (MonotonicEnergySensor if description.monotonic else EnergyOrchestratorSensor)(
            entry, description
        )
        for description in SENSORS
        if description.key in present
    )


class EnergyOrchestratorSensor(EnergyOrchestratorEntity, SensorEntity):
    """A sensor for one canonical value."""

    entity_description: EnergyOrchestratorSensorEntityDescription

    @property
    @override
    def native_value(self) -> StateType:
        """Return the value of the last poll."""
        return self.entity_description.value_fn(self.coordinator.data or {})


class MonotonicEnergySensor(EnergyOrchestratorSensor, RestoreSensor):
    """A lifetime energy counter that never goes backwards.

    A meter that answers 0 or a lower count for one poll (a brown-out, a
    half-written register) would look like a meter reset to the Energy
    dashboard and corrupt its long-term statistics. The highest count seen
    wins, and it is restored across restarts so the first poll after one is
    judged against the truth from before.
    """

    _highest: float | None = None
    _drop_logged = False

    @override
    async def async_added_to_hass(self) -> None:
        """Restore the highest count seen before the restart."""
        await super().async_added_to_hass()
        if (data := await self.async_get_last_sensor_data()) is not None and isinstance(
            data.native_value, int | float
        ):
            self._highest = float(data.native_value)

    @property
    @override
    def native_value(self) -> StateType:
        """Return the count, never lower than one seen before."""
        value = super().native_value
        if not isinstance(value, int | float):
            return self._highest
        if self._highest is None or value >= self._highest:
            self._highest = float(value)
            self._drop_logged = False
            return value
        if not self._drop_logged:
            LOGGER.warning(
                "%s reported %s Wh, below the %s Wh it reported before;"
                " keeping the higher count",
                self.entity_id,
                value,
                self._highest,
            )
            self._drop_logged = True
        return self._highest
