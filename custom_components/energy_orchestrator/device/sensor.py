"""Sensors: one per canonical value a device (or one of its sub-devices) has."""

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
    PERCENTAGE,
    EntityCategory,
    UnitOfApparentPower,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfReactivePower,
    UnitOfTemperature,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from ..const import DOMAIN, LOGGER
from ..lib.control.battery_energy import counted_keys
from ..lib.control.energy_total import CountState, EnergyTotal
from ..lib.drivers.base import SubDeviceKind
from ..lib.drivers.values import (
    SUB_DEVICE_SEPARATOR,
    Quantity,
    Readings,
    Unit,
    quantity_of,
)
from .coordinator import METER_REPLACED, DeviceConfigEntry, DeviceRuntimeData
from .entity import EnergyOrchestratorEntity


@dataclass(frozen=True, kw_only=True)
class EnergyOrchestratorSensorEntityDescription(SensorEntityDescription):
    """Describes a sensor for one canonical key."""

    value_fn: Callable[[Readings], StateType]
    # Lifetime counters never go backwards; see MonotonicEnergySensor.
    monotonic: bool = False


# How each unit of the value model shows in Home Assistant: device class,
# unit, display precision (of kWh for energy, which is shown in kWh).
_BY_UNIT: dict[Unit, tuple[SensorDeviceClass | None, str | None, int]] = {
    Unit.WATT: (SensorDeviceClass.POWER, UnitOfPower.WATT, 0),
    Unit.WATT_HOUR: (SensorDeviceClass.ENERGY, UnitOfEnergy.WATT_HOUR, 2),
    Unit.VOLT: (SensorDeviceClass.VOLTAGE, UnitOfElectricPotential.VOLT, 1),
    Unit.AMPERE: (SensorDeviceClass.CURRENT, UnitOfElectricCurrent.AMPERE, 2),
    Unit.PERCENT: (None, PERCENTAGE, 0),
    Unit.CELSIUS: (SensorDeviceClass.TEMPERATURE, UnitOfTemperature.CELSIUS, 1),
    Unit.HERTZ: (SensorDeviceClass.FREQUENCY, UnitOfFrequency.HERTZ, 2),
    Unit.VOLT_AMPERE: (
        SensorDeviceClass.APPARENT_POWER,
        UnitOfApparentPower.VOLT_AMPERE,
        0,
    ),
    Unit.VOLT_AMPERE_REACTIVE: (
        SensorDeviceClass.REACTIVE_POWER,
        UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        0,
    ),
    Unit.AMPERE_HOUR: (None, "Ah", 1),
    Unit.NONE: (None, None, 2),
}

# Display precision where a quantity's differs from its unit's: the spread
# between the highest and the lowest cell is a few millivolts, a battery's
# voltage moves by tens of them, counts are whole.
_PRECISION_BY_KEY: dict[str, int] = {
    "cell_voltage_min": 3,
    "cell_voltage_max": 3,
    "battery_voltage": 2,
    "battery_cycles": 0,
    "charger_phases": 0,
}

# What a user looks at: shown on the device page, enabled from the start.
PRIMARY = frozenset(
    {
        "grid_power",
        "grid_import_energy",
        "grid_export_energy",
        "pv_power",
        "pv_energy",
        "ac_power",
        "ac_energy",
        "ac_output_power",
        "battery_power",
        "battery_soc",
        "battery_charge_energy",
        "battery_discharge_energy",
        "load_power",
        "inverter_mode",
        "charger_power",
        "charger_energy",
        "charger_current",
        "charger_phases",
        "charger_status",
    }
)

# Details that are there for whoever wants them, off until enabled.
DISABLED_BY_DEFAULT = frozenset(
    {
        "grid_reactive_power",
        "grid_apparent_power",
        "grid_power_factor",
        "ac_power_factor_l1",
        "ac_power_factor_l2",
        "ac_power_factor_l3",
        "grid_import_energy_l1",
        "grid_import_energy_l2",
        "grid_import_energy_l3",
        "grid_export_energy_l1",
        "grid_export_energy_l2",
        "grid_export_energy_l3",
        "ac_voltage_l1_l2",
        "ac_voltage_l2_l3",
        "ac_voltage_l3_l1",
        "ac_current_neutral",
        "ac_reactive_power",
        "ac_apparent_power",
        "ac_output_apparent_power",
        "dc_bus_voltage",
        "battery_charge_voltage_limit",
        "battery_discharge_voltage_limit",
    }
)

# Per-phase grid power is what a user balancing phases watches, so it is not
# tucked away among the diagnostics.
_NOT_DIAGNOSTIC = PRIMARY | {
    "grid_power_l1",
    "grid_power_l2",
    "grid_power_l3",
    "battery_voltage",
    "battery_current",
}


def _value(key: str) -> Callable[[Readings], StateType]:
    """Return a function reading a key out of a poll."""

    def value(readings: Readings) -> StateType:
        reading = readings.get(key)
        return None if reading is None else reading.value

    return value


def translation_key(quantity: Quantity, kind: SubDeviceKind) -> str:
    """Return the key of a value's name: on a part, without what the part is.

    A PV input's ``pv_power`` is its "Power" and a pack's ``battery_current``
    its "Current": the device's name already says "PV1" or "Pack 1".
    """
    if (
        kind is not SubDeviceKind.OTHER
        and quantity.key.startswith(f"{kind}_")
        and quantity.options is None
    ):
        return f"part_{quantity.key}"
    return quantity.key


def describe(
    key: str, kind: SubDeviceKind = SubDeviceKind.OTHER
) -> EnergyOrchestratorSensorEntityDescription:
    """Return the description of the sensor for a key (sub-device keys too).

    Everything follows from the key's quantity in the value model: device
    class and unit from its unit, statistics from what it measures. ``kind``
    is what the sub-device the key belongs to is.
    """
    quantity: Quantity = quantity_of(key)
    base = quantity.key
    device_class, unit, precision = _BY_UNIT[quantity.unit]
    precision = _PRECISION_BY_KEY.get(base, precision)
    state_class: SensorStateClass | None = SensorStateClass.MEASUREMENT
    options: list[str] | None = None
    if quantity.options is not None:
        device_class, unit, state_class = SensorDeviceClass.ENUM, None, None
        options = list(quantity.options)
    elif quantity.unit is Unit.WATT_HOUR:
        state_class = SensorStateClass.TOTAL_INCREASING
    elif base.endswith("_soc") or base == "battery_soh":
        device_class = SensorDeviceClass.BATTERY
    elif "power_factor" in base:
        device_class = SensorDeviceClass.POWER_FACTOR
    elif base == "battery_cycles":
        state_class = SensorStateClass.TOTAL_INCREASING
    return EnergyOrchestratorSensorEntityDescription(
        key=key,
        translation_key=translation_key(quantity, kind),
        device_class=device_class,
        native_unit_of_measurement=unit,
        suggested_unit_of_measurement=(
            UnitOfEnergy.KILO_WATT_HOUR if quantity.unit is Unit.WATT_HOUR else None
        ),
        state_class=state_class,
        options=options,
        suggested_display_precision=None if options else precision,
        entity_category=None if base in _NOT_DIAGNOSTIC else EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=base not in DISABLED_BY_DEFAULT,
        monotonic=quantity.unit is Unit.WATT_HOUR,
        value_fn=_value(key),
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DeviceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a sensor for every value the device and its sub-devices have.

    What a device has is what its family can report, less what this very
    device turned out not to have while setting up (registers it refused,
    modules it does not carry).
    """
    async_add_entities(sensors_of(entry.runtime_data))


def sensors_of(device: DeviceRuntimeData) -> list[EnergyOrchestratorSensor]:
    """Return a sensor for every value a device and its sub-devices have."""
    coordinator = device.coordinator
    driver = coordinator.driver
    counted = counted_keys(driver.available_keys())
    kinds = {sub.key: sub.kind for sub in driver.sub_devices}
    descriptions = (
        describe(
            key,
            kinds.get(key.rpartition(SUB_DEVICE_SEPARATOR)[0], SubDeviceKind.OTHER),
        )
        for key in sorted(coordinator.available_keys())
    )
    return [
        _sensor_class(description, counted)(device, description)
        for description in descriptions
    ]


def _sensor_class(
    description: EnergyOrchestratorSensorEntityDescription, counted: set[str]
) -> type[EnergyOrchestratorSensor]:
    """Return the class of a key's sensor: counted, monotonic, or plain."""
    if description.key in counted:
        return CountedEnergySensor
    if description.monotonic:
        return MonotonicEnergySensor
    return EnergyOrchestratorSensor


class EnergyOrchestratorSensor(EnergyOrchestratorEntity, SensorEntity):
    """A sensor for one canonical value."""

    entity_description: EnergyOrchestratorSensorEntityDescription

    @property
    @override
    def native_value(self) -> StateType:
        """Return the value of the last poll."""
        return self.entity_description.value_fn(self.coordinator.data or {})


class MonotonicEnergySensor(EnergyOrchestratorSensor, RestoreSensor):
    """A lifetime energy counter: never backwards, never faster than possible.

    A meter that answers 0 or a lower count for one poll (a brown-out, a
    half-written register) would look like a meter reset to the Energy
    dashboard; one that answers a spike (a garbled frame, another device at
    the address) would stay the total for good. Both are held back
    (``EnergyTotal``) until following reads confirm them; a meter that stays
    far lower is a replacement, raised as a repair issue the user confirms.
    The count shown is restored across restarts so the first poll after one
    is judged against the truth from before.
    """

    @property
    def _total(self) -> EnergyTotal:
        """Return the judge of this sensor's count, kept by the coordinator."""
        return self.coordinator.energy_totals.setdefault(
            self.entity_description.key, EnergyTotal()
        )

    @override
    async def async_added_to_hass(self) -> None:
        """Restore the count shown before the restart, and when it was read."""
        await super().async_added_to_hass()
        data = await self.async_get_last_sensor_data()
        state = await self.async_get_last_state()
        if data is not None and isinstance(data.native_value, int | float):
            at = state.last_updated.timestamp() if state is not None else None
            self._total.restore(float(data.native_value), at)
        self._judge()

    @callback
    @override
    def _handle_coordinator_update(self) -> None:
        """Judge the new count once per poll, then write the state."""
        self._judge()
        super()._handle_coordinator_update()

    def _judge(self) -> None:
        """Hand the poll's count to the judge; raise or clear the replacement issue."""
        reading = (self.coordinator.data or {}).get(self.entity_description.key)
        if reading is None or not isinstance(reading.value, int | float):
            return
        total = self._total
        before = total.state
        total.add(float(reading.value), reading.timestamp)
        if total.state is before:
            return
        if total.state in (CountState.JUMP_HELD, CountState.DROP_HELD):
            # Another device answering at the address reads like this too.
            self.coordinator.doubt_identity()
        if total.state is CountState.JUMP_HELD:
            LOGGER.warning(
                "%s reported %s Wh, more than %s Wh could have risen to since;"
                " holding it back until following reads confirm it",
                self.entity_id,
                reading.value,
                total.shown_wh,
            )
        elif total.state is CountState.DROP_HELD:
            LOGGER.warning(
                "%s reported %s Wh, below the %s Wh it reported before;"
                " keeping the higher count",
                self.entity_id,
                reading.value,
                total.shown_wh,
            )
        if CountState.REPLACED in (before, total.state):
            meter_replacement_issue(self, total)

    @property
    @override
    def native_value(self) -> StateType:
        """Return the count judged plausible, not the poll's own."""
        return self._total.shown_wh


def meter_replacement_issue(sensor: MonotonicEnergySensor, total: EnergyTotal) -> None:
    """Raise the issue of a meter that looks replaced, or clear it."""
    issue = f"{METER_REPLACED}_{sensor.coordinator.config_entry.entry_id}_{sensor.entity_description.key}"
    if total.state is not CountState.REPLACED:
        ir.async_delete_issue(sensor.hass, DOMAIN, issue)
        return
    ir.async_create_issue(
        sensor.hass,
        DOMAIN,
        issue,
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key=METER_REPLACED,
        translation_placeholders={
            "entity_id": str(sensor.entity_id),
            "shown": f"{(total.shown_wh or 0) / 1000:.3f}",
        },
        data={
            "entry_id": sensor.coordinator.config_entry.entry_id,
            "code": METER_REPLACED,
            "subject": sensor.entity_description.key,
        },
    )


class CountedEnergySensor(EnergyOrchestratorSensor, RestoreSensor):
    """A battery's energy total counted from its power (it keeps none itself).

    The coordinator counts; this sensor hands it the total it showed before
    a restart, so the count goes on from there (the restart's gap is not
    counted), and shows nothing until then. The total only ever grows.
    """

    @override
    async def async_added_to_hass(self) -> None:
        """Give the coordinator the total shown before the restart."""
        await super().async_added_to_hass()
        restored: float | None = None
        if (data := await self.async_get_last_sensor_data()) is not None and isinstance(
            data.native_value, int | float
        ):
            restored = float(data.native_value)
        self.coordinator.battery_energy.restore(self.entity_description.key, restored)

    @property
    @override
    def available(self) -> bool:
        """Return whether the device answers and the total is known."""
        return self.coordinator.last_update_success and self.native_value is not None

    @property
    @override
    def native_value(self) -> StateType:
        """Return the counted total (Wh)."""
        return self.coordinator.battery_energy.total(self.entity_description.key)
