"""The peak-shaving forms: meter, battery and output when added; limits after.

A further battery (its own inverter, its own setpoint number) is a
subentry of the peak-shaving entry, with the same fields as the entry's
own battery.

Peak shaving sets each battery's power both ways through one number in W:
from minus to plus the battery's power. The forms refuse a number that
cannot (a maximum charge or discharge power, which only caps what the
inverter does; one in kW; one whose range is short of the battery's
power), and ``setup_problems`` watches the same after the entry is added.
"""

from collections.abc import Mapping
from typing import Any, override

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    ConfigFlowResult,
    ConfigSubentryFlow,
)
from homeassistant.const import CONF_NAME, STATE_UNAVAILABLE, STATE_UNKNOWN, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers.issue_registry import IssueSeverity
from homeassistant.helpers.selector import (
    BooleanSelector,
    ConfigEntrySelector,
    ConfigEntrySelectorConfig,
    EntitySelector,
    EntitySelectorConfig,
    TextSelector,
)
import probatio

from ..const import (
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
    CONF_CONNECTION_LIMIT_W,
    CONF_EXPORT_LIMIT_W,
    CONF_GRID_POWER_ENTITY,
    CONF_GRID_POWER_L1_ENTITY,
    CONF_IMPORT_LIMIT_W,
    CONF_INVERT_SETPOINT,
    CONF_PHASE_LIMIT_W,
    CONF_PV_FORECAST_ENTITY,
    CONF_PV_FORECAST_ENTRY,
    CONF_PV_POWER_ENTITY,
    GRID_POWER_PHASE_ENTITIES,
    KIND_PEAK_SHAVING,
    SUBENTRY_BATTERY,
)
from ..controller.flow import ControllerOptionsFlow, ControllerSubentryFlow
from ..controller.outputs import NUMBER_DOMAINS
from ..controller.problems import (
    OUTPUT_WRONG_UNIT,
    SetupProblem,
    figure,
    form_errors,
    number_range,
)
from ..controller.selectors import (
    billing_fields,
    choice_picker,
    number_box,
    sensor_picker,
)
from ..lib.control.setpoint_limits import BatteryPhases
from .batteries import battery_limits, voltage_guard
from .coordinator import PeakShavingConfigEntry, settings_from
from .pv_forecast import SOLCAST_DETAILED_FORECAST, async_is_solar_forecast

# The problems of a setpoint number, as the texts name them.
SETPOINT_ONE_SIGN = "setpoint_one_sign"
SETPOINT_RANGE_TOO_SMALL = "setpoint_range_too_small"
PV_FORECAST_ENTRY_MISSING = "pv_forecast_entry_missing"

# What a battery is set up with: the entry's own in its options, a further
# one in its subentry.
_BATTERY_LIMIT_KEYS = (
    CONF_BATTERY_CAPACITY_KWH,
    CONF_BATTERY_MAX_KW,
    CONF_BATTERY_SOC_MIN,
    CONF_BATTERY_SOC_MAX,
    CONF_BATTERY_VOLTAGE_MIN_V,
    CONF_BATTERY_VOLTAGE_MAX_V,
)
_OPTION_KEYS = (
    *_BATTERY_LIMIT_KEYS,
    CONF_IMPORT_LIMIT_W,
    CONF_EXPORT_LIMIT_W,
    CONF_BILLING_INTERVAL_MIN,
    CONF_BILLING_PERIOD,
    CONF_PHASE_LIMIT_W,
    CONF_BATTERY_PHASES,
    CONF_CONNECTION_LIMIT_W,
)


def _battery_limit_fields() -> dict[Any, Any]:
    """Return the fields of a battery's size and limits."""
    return {
        probatio.Required(CONF_BATTERY_CAPACITY_KWH): number_box(0.1, 100000, "kWh"),
        probatio.Required(CONF_BATTERY_MAX_KW): number_box(0.1, 100000, "kW"),
        probatio.Required(CONF_BATTERY_SOC_MIN, default=10): number_box(0, 100, "%"),
        probatio.Required(CONF_BATTERY_SOC_MAX, default=100): number_box(0, 100, "%"),
        probatio.Optional(CONF_BATTERY_VOLTAGE_MIN_V): number_box(1, 2000, "V"),
        probatio.Optional(CONF_BATTERY_VOLTAGE_MAX_V): number_box(1, 2000, "V"),
    }


def _battery_entity_fields() -> dict[Any, Any]:
    """Return the fields of where a battery is read and set."""
    return {
        probatio.Required(CONF_BATTERY_POWER_ENTITY): sensor_picker(
            SensorDeviceClass.POWER
        ),
        probatio.Required(CONF_BATTERY_SOC_ENTITY): sensor_picker(
            SensorDeviceClass.BATTERY
        ),
        probatio.Optional(CONF_BATTERY_VOLTAGE_ENTITY): sensor_picker(
            SensorDeviceClass.VOLTAGE
        ),
        probatio.Required(CONF_BATTERY_SETPOINT_ENTITY): EntitySelector(
            EntitySelectorConfig(domain=list(NUMBER_DOMAINS))
        ),
        probatio.Required(CONF_INVERT_SETPOINT, default=False): BooleanSelector(),
    }


def options_schema() -> probatio.Schema:
    """Return the battery and limits form (added, and in the options)."""
    return probatio.Schema(
        {
            **_battery_limit_fields(),
            probatio.Optional(CONF_IMPORT_LIMIT_W): number_box(0, 10_000_000, "W"),
            probatio.Optional(CONF_EXPORT_LIMIT_W): number_box(0, 10_000_000, "W"),
            **billing_fields(),
            probatio.Optional(CONF_PHASE_LIMIT_W): number_box(1, 10_000_000, "W"),
            probatio.Required(
                CONF_BATTERY_PHASES, default=BatteryPhases.THREE.value
            ): choice_picker(BatteryPhases, CONF_BATTERY_PHASES),
            probatio.Optional(CONF_CONNECTION_LIMIT_W): number_box(1, 10_000_000, "W"),
        }
    )


STEP_PEAK_SHAVING = probatio.Schema(
    {
        probatio.Required(CONF_NAME, default="Peak shaving"): TextSelector(),
        probatio.Required(CONF_GRID_POWER_ENTITY): sensor_picker(
            SensorDeviceClass.POWER
        ),
        **{
            probatio.Optional(phase): sensor_picker(SensorDeviceClass.POWER)
            for phase in GRID_POWER_PHASE_ENTITIES
        },
        probatio.Optional(CONF_PV_POWER_ENTITY): sensor_picker(SensorDeviceClass.POWER),
        probatio.Optional(CONF_PV_FORECAST_ENTITY): EntitySelector(
            EntitySelectorConfig(domain="sensor")
        ),
        probatio.Optional(CONF_PV_FORECAST_ENTRY): ConfigEntrySelector(
            ConfigEntrySelectorConfig()
        ),
        **_battery_entity_fields(),
    }
).extend(options_schema().schema)

STEP_BATTERY = probatio.Schema(
    {
        probatio.Required(CONF_NAME): TextSelector(),
        **_battery_entity_fields(),
        **_battery_limit_fields(),
    }
)


def _battery_errors(
    values: Mapping[str, Any], entities: Mapping[str, Any], *, adding: bool
) -> dict[str, str]:
    """Return what is wrong with a battery's limits for its entities.

    A voltage given without limits is refused while the battery is added
    (what else would it be for); in the settings afterwards the limits may
    be cleared, since the voltage itself cannot be changed there.
    """
    if values.get(CONF_BATTERY_SOC_MIN, 0) >= values.get(CONF_BATTERY_SOC_MAX, 100):
        return {CONF_BATTERY_SOC_MIN: "soc_min_above_max"}
    voltage_limits = CONF_BATTERY_VOLTAGE_MIN_V in values or (
        CONF_BATTERY_VOLTAGE_MAX_V in values
    )
    if voltage_limits and not entities.get(CONF_BATTERY_VOLTAGE_ENTITY):
        return {CONF_BATTERY_VOLTAGE_MIN_V: "voltage_limits_without_voltage"}
    if adding and entities.get(CONF_BATTERY_VOLTAGE_ENTITY) and not voltage_limits:
        return {CONF_BATTERY_VOLTAGE_MIN_V: "voltage_without_limits"}
    return {}


def _filled(user_input: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Return the fields of ``keys`` the user filled in."""
    return {
        key: user_input[key] for key in keys if user_input.get(key) not in (None, "")
    }


def validate_options(
    user_input: Mapping[str, Any], data: Mapping[str, Any], *, adding: bool = False
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Check the battery and limits against the entry's inputs (``data``).

    ``adding`` when the entry is being added. Return options, errors,
    placeholders.
    """
    options = _filled(user_input, _OPTION_KEYS)
    placeholders = {"error": ""}
    errors = _battery_errors(options, data, adding=adding)
    phases = [entity for entity in GRID_POWER_PHASE_ENTITIES if data.get(entity)]
    if 0 < len(phases) < len(GRID_POWER_PHASE_ENTITIES):
        errors[CONF_GRID_POWER_L1_ENTITY] = "phases_incomplete"
    elif CONF_PHASE_LIMIT_W in options and not phases:
        # A fuse the meter cannot see on every phase cannot be held.
        errors[CONF_PHASE_LIMIT_W] = "phase_limit_without_phases"
    connection = options.get(CONF_CONNECTION_LIMIT_W)
    if connection is not None and options.get(CONF_IMPORT_LIMIT_W, 0) > connection:
        # A peak the connection cannot carry would never be held.
        errors[CONF_IMPORT_LIMIT_W] = "import_limit_above_connection"
    if errors:
        return options, errors, placeholders
    try:
        settings_from(options).validate()
        battery_limits(options).validate()
        if guard := voltage_guard(options):
            guard.validate()
    except ValueError as err:
        errors["base"] = "invalid"
        placeholders["error"] = str(err)
    return options, errors, placeholders


def validate_peak_shaving(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    """Split the form into entry data and options; check them and the entities."""
    data = {key: value for key, value in user_input.items() if key not in _OPTION_KEYS}
    options, errors, placeholders = validate_options(user_input, data, adding=True)
    if data.get(CONF_PV_FORECAST_ENTITY) and data.get(CONF_PV_FORECAST_ENTRY):
        # Which would it be? One forecast, from one source.
        errors[CONF_PV_FORECAST_ENTRY] = "pv_forecast_twice"
    if errors:
        return data, options, errors, placeholders
    errors, placeholders = form_errors(
        (
            pv_forecast_sensor_problem(hass, data.get(CONF_PV_FORECAST_ENTITY)),
            setpoint_problem(
                hass, data[CONF_BATTERY_SETPOINT_ENTITY], options[CONF_BATTERY_MAX_KW]
            ),
        )
    )
    return data, options, errors, placeholders


def pv_forecast_sensor_problem(
    hass: HomeAssistant, entity_id: str | None
) -> SetupProblem | None:
    """Return why a PV forecast sensor gives no forecast, None when it does.

    Only Solcast's detailed forecast is read from a sensor; any other would
    be ignored in silence, PV forecast from history. A sensor that cannot
    be read now is not judged.
    """
    state = hass.states.get(entity_id) if entity_id else None
    if (
        state is None
        or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN)
        or SOLCAST_DETAILED_FORECAST in state.attributes
    ):
        return None
    return SetupProblem(
        code="not_a_pv_forecast_sensor",
        field=CONF_PV_FORECAST_ENTITY,
        subject=state.entity_id,
        detail=state.entity_id,
    )


def setpoint_problem(
    hass: HomeAssistant,
    entity_id: str,
    battery_max_kw: float,
    *,
    subentry_id: str | None = None,
) -> SetupProblem | None:
    """Return why a battery's setpoint number cannot set its power, None when it can.

    The battery is set from minus to plus its power, in W; turning the
    sign round (``CONF_INVERT_SETPOINT``) changes neither end. A number
    that shows no range (missing, unavailable) is not judged.
    """
    shown = number_range(hass, entity_id)
    if shown is None:
        return None
    power_w = float(battery_max_kw) * 1000

    def problem(code: str, detail: str) -> SetupProblem:
        """Return the problem of this number."""
        return SetupProblem(
            code=code,
            field=CONF_BATTERY_SETPOINT_ENTITY,
            subject=entity_id,
            detail=detail,
            subentry_id=subentry_id,
        )

    if shown.unit and shown.unit != UnitOfPower.WATT:
        return problem(
            OUTPUT_WRONG_UNIT, f"{entity_id} is in {shown.unit}; peak shaving sets W"
        )
    if shown.lowest >= 0 or shown.highest <= 0:
        return problem(SETPOINT_ONE_SIGN, f"{entity_id} takes {shown}")
    if shown.lowest > -power_w or shown.highest < power_w:
        return problem(
            SETPOINT_RANGE_TOO_SMALL,
            f"{entity_id} takes {shown}; the battery's power is {figure(power_w)} W",
        )
    return None


def setup_problems(
    hass: HomeAssistant, entry: PeakShavingConfigEntry
) -> list[SetupProblem]:
    """Return what keeps an added peak shaving from working, as its forms would.

    Each battery's setpoint number, and the solar forecast service: one
    that was removed leaves PV to history, which works, less well.
    """
    problems = [
        setpoint_problem(
            hass,
            entry.data[CONF_BATTERY_SETPOINT_ENTITY],
            entry.options[CONF_BATTERY_MAX_KW],
        ),
        *(
            setpoint_problem(
                hass,
                subentry.data[CONF_BATTERY_SETPOINT_ENTITY],
                subentry.data[CONF_BATTERY_MAX_KW],
                subentry_id=subentry.subentry_id,
            )
            for subentry in entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_BATTERY
        ),
    ]
    forecast_entry = entry.data.get(CONF_PV_FORECAST_ENTRY)
    if forecast_entry and hass.config_entries.async_get_entry(forecast_entry) is None:
        problems.append(
            SetupProblem(
                code=PV_FORECAST_ENTRY_MISSING,
                field=CONF_PV_FORECAST_ENTRY,
                subject=forecast_entry,
                fixable=True,
                severity=IssueSeverity.WARNING,
            )
        )
    return [problem for problem in problems if problem is not None]


async def async_check_pv_forecast(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> dict[str, str]:
    """Return an error if the chosen solar forecast service gives no forecast."""
    entry_id = user_input.get(CONF_PV_FORECAST_ENTRY)
    if entry_id and not await async_is_solar_forecast(hass, entry_id):
        return {CONF_PV_FORECAST_ENTRY: "not_a_solar_forecast"}
    return {}


def validate_battery(
    user_input: Mapping[str, Any],
    entry: PeakShavingConfigEntry,
    subentry_id: str | None = None,
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Check a further battery of ``entry`` (``subentry_id`` when it is edited).

    Return its subentry data (with its name), errors, placeholders.
    """
    data = {
        **_filled(user_input, (CONF_NAME, CONF_BATTERY_VOLTAGE_ENTITY)),
        **{
            key: user_input[key]
            for key in (
                CONF_BATTERY_POWER_ENTITY,
                CONF_BATTERY_SOC_ENTITY,
                CONF_BATTERY_SETPOINT_ENTITY,
                CONF_INVERT_SETPOINT,
            )
            if key in user_input
        },
        **_filled(user_input, _BATTERY_LIMIT_KEYS),
    }
    placeholders = {"error": ""}
    # Edited, a further battery shows its voltage too: the rule of adding holds.
    errors = _battery_errors(data, data, adding=True)
    # Two batteries on one number would each be set the other's share.
    taken = {entry.data.get(CONF_BATTERY_SETPOINT_ENTITY)} | {
        subentry.data.get(CONF_BATTERY_SETPOINT_ENTITY)
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_BATTERY
        and subentry.subentry_id != subentry_id
    }
    if data.get(CONF_BATTERY_SETPOINT_ENTITY) in taken:
        errors[CONF_BATTERY_SETPOINT_ENTITY] = "setpoint_in_use"
    if errors:
        return data, errors, placeholders
    try:
        battery_limits(data).validate()
        if guard := voltage_guard(data):
            guard.validate()
    except ValueError as err:
        errors["base"] = "invalid"
        placeholders["error"] = str(err)
    return data, errors, placeholders


class BatterySubentryFlow(ControllerSubentryFlow):
    """Add or edit a further battery of a peak-shaving entry."""

    schema = STEP_BATTERY
    output_key = CONF_BATTERY_SETPOINT_ENTITY
    validate = staticmethod(validate_battery)

    @override
    def further_problems(
        self, data: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Check that the setpoint's range takes the battery's power."""
        return form_errors(
            (
                setpoint_problem(
                    self.hass,
                    data[CONF_BATTERY_SETPOINT_ENTITY],
                    data[CONF_BATTERY_MAX_KW],
                ),
            )
        )


SUBENTRY_FLOWS: dict[str, type[ConfigSubentryFlow]] = {
    SUBENTRY_BATTERY: BatterySubentryFlow
}


class PeakShavingOptionsFlow(ControllerOptionsFlow):
    """Edit peak shaving's battery and limits (a step of their own, for their texts)."""

    step_id = KIND_PEAK_SHAVING
    schema = staticmethod(options_schema)
    # The entry reloads from its update listener, which also sees its
    # batteries (subentries) come, change and go.
    automatic_reload = False

    @override
    def validate_input(
        self, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """Check the settings against the inputs the entry was added with.

        The battery's power must stay within its setpoint's range; what
        the setpoint itself cannot do is not for this form (a repair says
        it), so it does not keep the other settings from being changed.
        """
        data = self.config_entry.data
        options, errors, placeholders = validate_options(user_input, data)
        if errors:
            return options, errors, placeholders
        problem = setpoint_problem(
            self.hass, data[CONF_BATTERY_SETPOINT_ENTITY], options[CONF_BATTERY_MAX_KW]
        )
        if problem is None or problem.code != SETPOINT_RANGE_TOO_SMALL:
            return options, errors, placeholders
        errors, placeholders = form_errors((problem,), field=CONF_BATTERY_MAX_KW)
        return options, errors, placeholders

    async def async_step_peak_shaving(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take the form back: its step is named for its texts."""
        return await self.async_step_init(user_input)
