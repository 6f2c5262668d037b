"""The peak-shaving forms: meter, battery and output when added; limits after."""

from collections.abc import Mapping
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import CONF_NAME
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
)
import probatio

from ...const import (
    CONF_BATTERY_CAPACITY_KWH,
    CONF_BATTERY_MAX_KW,
    CONF_BATTERY_PHASES,
    CONF_BATTERY_POWER_ENTITY,
    CONF_BATTERY_SETPOINT_ENTITY,
    CONF_BATTERY_SOC_ENTITY,
    CONF_BATTERY_SOC_MAX,
    CONF_BATTERY_SOC_MIN,
    CONF_BATTERY_VOLTAGE_ENTITY,
    CONF_BATTERY_VOLTAGE_MAX_V,
    CONF_BATTERY_VOLTAGE_MIN_V,
    CONF_BILLING_INTERVAL_MIN,
    CONF_BILLING_PERIOD,
    CONF_EXPORT_LIMIT_W,
    CONF_GRID_POWER_ENTITY,
    CONF_GRID_POWER_L1_ENTITY,
    CONF_GRID_POWER_L2_ENTITY,
    CONF_GRID_POWER_L3_ENTITY,
    CONF_IMPORT_LIMIT_W,
    CONF_INVERT_SETPOINT,
    CONF_PHASE_LIMIT_W,
    CONF_PV_FORECAST_ENTITY,
    CONF_PV_POWER_ENTITY,
)
from ...control.peak_shaving import BillingPeriod
from ...control.setpoint_limits import BatteryPhases
from ..outputs import NUMBER_DOMAINS
from ..selectors import number_box, sensor_picker
from .coordinator import settings_from

_OPTION_KEYS = (
    CONF_BATTERY_CAPACITY_KWH,
    CONF_BATTERY_MAX_KW,
    CONF_BATTERY_SOC_MIN,
    CONF_BATTERY_SOC_MAX,
    CONF_IMPORT_LIMIT_W,
    CONF_EXPORT_LIMIT_W,
    CONF_BILLING_INTERVAL_MIN,
    CONF_BILLING_PERIOD,
    CONF_PHASE_LIMIT_W,
    CONF_BATTERY_PHASES,
    CONF_BATTERY_VOLTAGE_MIN_V,
    CONF_BATTERY_VOLTAGE_MAX_V,
)
PHASE_ENTITIES = (
    CONF_GRID_POWER_L1_ENTITY,
    CONF_GRID_POWER_L2_ENTITY,
    CONF_GRID_POWER_L3_ENTITY,
)


def options_schema() -> probatio.Schema:
    """Return the battery and limits form (added, and in the options)."""
    return probatio.Schema(
        {
            probatio.Required(CONF_BATTERY_CAPACITY_KWH): number_box(
                0.1, 100000, "kWh"
            ),
            probatio.Required(CONF_BATTERY_MAX_KW): number_box(0.1, 100000, "kW"),
            probatio.Required(CONF_BATTERY_SOC_MIN, default=10): number_box(
                0, 100, "%"
            ),
            probatio.Required(CONF_BATTERY_SOC_MAX, default=100): number_box(
                0, 100, "%"
            ),
            probatio.Optional(CONF_IMPORT_LIMIT_W): number_box(0, 10_000_000, "W"),
            probatio.Optional(CONF_EXPORT_LIMIT_W): number_box(0, 10_000_000, "W"),
            probatio.Required(CONF_BILLING_INTERVAL_MIN, default="15"): SelectSelector(
                SelectSelectorConfig(
                    options=["5", "15", "30", "60"],
                    translation_key=CONF_BILLING_INTERVAL_MIN,
                )
            ),
            probatio.Required(
                CONF_BILLING_PERIOD, default=BillingPeriod.MONTH.value
            ): SelectSelector(
                SelectSelectorConfig(
                    options=[period.value for period in BillingPeriod],
                    translation_key=CONF_BILLING_PERIOD,
                )
            ),
            probatio.Optional(CONF_PHASE_LIMIT_W): number_box(1, 10_000_000, "W"),
            probatio.Required(
                CONF_BATTERY_PHASES, default=BatteryPhases.THREE.value
            ): SelectSelector(
                SelectSelectorConfig(
                    options=[phases.value for phases in BatteryPhases],
                    translation_key=CONF_BATTERY_PHASES,
                )
            ),
            probatio.Optional(CONF_BATTERY_VOLTAGE_MIN_V): number_box(1, 2000, "V"),
            probatio.Optional(CONF_BATTERY_VOLTAGE_MAX_V): number_box(1, 2000, "V"),
        }
    )


STEP_PEAK_SHAVING = probatio.Schema(
    {
        probatio.Required(CONF_NAME, default="Peak shaving"): TextSelector(),
        probatio.Required(CONF_GRID_POWER_ENTITY): sensor_picker(
            SensorDeviceClass.POWER
        ),
        probatio.Required(CONF_BATTERY_POWER_ENTITY): sensor_picker(
            SensorDeviceClass.POWER
        ),
        probatio.Required(CONF_BATTERY_SOC_ENTITY): sensor_picker(
            SensorDeviceClass.BATTERY
        ),
        probatio.Optional(CONF_GRID_POWER_L1_ENTITY): sensor_picker(
            SensorDeviceClass.POWER
        ),
        probatio.Optional(CONF_GRID_POWER_L2_ENTITY): sensor_picker(
            SensorDeviceClass.POWER
        ),
        probatio.Optional(CONF_GRID_POWER_L3_ENTITY): sensor_picker(
            SensorDeviceClass.POWER
        ),
        probatio.Optional(CONF_BATTERY_VOLTAGE_ENTITY): sensor_picker(
            SensorDeviceClass.VOLTAGE
        ),
        probatio.Optional(CONF_PV_POWER_ENTITY): sensor_picker(SensorDeviceClass.POWER),
        probatio.Optional(CONF_PV_FORECAST_ENTITY): EntitySelector(
            EntitySelectorConfig(domain="sensor")
        ),
        probatio.Required(CONF_BATTERY_SETPOINT_ENTITY): EntitySelector(
            EntitySelectorConfig(domain=list(NUMBER_DOMAINS))
        ),
        probatio.Required(CONF_INVERT_SETPOINT, default=False): BooleanSelector(),
    }
).extend(options_schema().schema)


def validate_options(
    user_input: Mapping[str, Any], data: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Check the battery and limits against the entry's inputs (``data``).

    Return options, errors, placeholders.
    """
    options = {
        key: user_input[key]
        for key in _OPTION_KEYS
        if user_input.get(key) not in (None, "")
    }
    errors: dict[str, str] = {}
    placeholders = {"error": ""}
    if options.get(CONF_BATTERY_SOC_MIN, 0) >= options.get(CONF_BATTERY_SOC_MAX, 100):
        errors[CONF_BATTERY_SOC_MIN] = "soc_min_above_max"
        return options, errors, placeholders
    phases = [entity for entity in PHASE_ENTITIES if data.get(entity)]
    if 0 < len(phases) < len(PHASE_ENTITIES):
        errors[CONF_GRID_POWER_L1_ENTITY] = "phases_incomplete"
    elif CONF_PHASE_LIMIT_W in options and not phases:
        # A fuse the meter cannot see on every phase cannot be held.
        errors[CONF_PHASE_LIMIT_W] = "phase_limit_without_phases"
    voltage_limits = CONF_BATTERY_VOLTAGE_MIN_V in options or (
        CONF_BATTERY_VOLTAGE_MAX_V in options
    )
    if voltage_limits and not data.get(CONF_BATTERY_VOLTAGE_ENTITY):
        errors[CONF_BATTERY_VOLTAGE_MIN_V] = "voltage_limits_without_voltage"
    elif data.get(CONF_BATTERY_VOLTAGE_ENTITY) and not voltage_limits:
        errors[CONF_BATTERY_VOLTAGE_MIN_V] = "voltage_without_limits"
    if errors:
        return options, errors, placeholders
    try:
        settings, battery = settings_from(options)
        settings.validate()
        battery.validate()
    except (KeyError, ValueError) as err:
        errors["base"] = "invalid"
        placeholders["error"] = str(err)
    return options, errors, placeholders


def validate_peak_shaving(
    user_input: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    """Split the form into entry data and options; check them."""
    data = {key: value for key, value in user_input.items() if key not in _OPTION_KEYS}
    options, errors, placeholders = validate_options(user_input, data)
    return data, options, errors, placeholders
