"""The peak-shaving forms: meter, battery and output when added; limits after.

A further battery (its own inverter, its own setpoint number) is a
subentry of the peak-shaving entry, with the same fields as the entry's
own battery.
"""

from collections.abc import Mapping
from typing import Any, override

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    ConfigFlowResult,
    ConfigSubentry,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    ConfigEntrySelector,
    ConfigEntrySelectorConfig,
    EntitySelector,
    EntitySelectorConfig,
    SelectSelector,
    SelectSelectorConfig,
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
from ..controller.flow import ControllerOptionsFlow
from ..controller.outputs import NUMBER_DOMAINS
from ..controller.selectors import choice_picker, number_box, sensor_picker
from ..lib.control.billing import BillingPeriod
from ..lib.control.setpoint_limits import BatteryPhases
from .batteries import battery_limits, voltage_guard
from .coordinator import PeakShavingConfigEntry, settings_from
from .pv_forecast import async_is_solar_forecast

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
            probatio.Required(CONF_BILLING_INTERVAL_MIN, default="15"): SelectSelector(
                SelectSelectorConfig(
                    options=["5", "15", "30", "60"],
                    translation_key=CONF_BILLING_INTERVAL_MIN,
                )
            ),
            probatio.Required(
                CONF_BILLING_PERIOD, default=BillingPeriod.MONTH.value
            ): choice_picker(BillingPeriod, CONF_BILLING_PERIOD),
            probatio.Optional(CONF_PHASE_LIMIT_W): number_box(1, 10_000_000, "W"),
            probatio.Required(
                CONF_BATTERY_PHASES, default=BatteryPhases.THREE.value
            ): choice_picker(BatteryPhases, CONF_BATTERY_PHASES),
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
    user_input: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    """Split the form into entry data and options; check them."""
    data = {key: value for key, value in user_input.items() if key not in _OPTION_KEYS}
    options, errors, placeholders = validate_options(user_input, data, adding=True)
    if data.get(CONF_PV_FORECAST_ENTITY) and data.get(CONF_PV_FORECAST_ENTRY):
        # Which would it be? One forecast, from one source.
        errors[CONF_PV_FORECAST_ENTRY] = "pv_forecast_twice"
    return data, options, errors, placeholders


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


@callback
def _async_claimed_setpoint(
    hass: HomeAssistant, entry: PeakShavingConfigEntry, data: Mapping[str, Any]
) -> str | None:
    """Return which other controller drives a further battery's setpoint, if any.

    The entry's own batteries are checked by ``validate_battery``.
    """
    # kinds.py registers the subentry flow, so it is imported when first needed.
    from ..kinds import async_claimed_output  # noqa: PLC0415

    return async_claimed_output(
        hass, [data[CONF_BATTERY_SETPOINT_ENTITY]], other_than=entry.entry_id
    )


class BatterySubentryFlow(ConfigSubentryFlow):
    """Add or edit a further battery of a peak-shaving entry."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Add a battery: where it is read and set, its size and limits."""
        return await self._async_battery_form("user", user_input, None)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Edit a battery; the entry starts again with it."""
        return await self._async_battery_form(
            "reconfigure", user_input, self._get_reconfigure_subentry()
        )

    async def _async_battery_form(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        subentry: ConfigSubentry | None,
    ) -> SubentryFlowResult:
        """Show the battery's form; add or change the battery once it checks out."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        entry = self._get_entry()
        if user_input is not None:
            data, errors, placeholders = validate_battery(
                user_input, entry, subentry.subentry_id if subentry else None
            )
            if not errors and (
                claimed := _async_claimed_setpoint(self.hass, entry, data)
            ):
                errors[CONF_BATTERY_SETPOINT_ENTITY] = "output_in_use"
                placeholders["error"] = claimed
            if not errors:
                title = data.pop(CONF_NAME)
                if subentry is None:
                    return self.async_create_entry(title=title, data=data)
                return self.async_update_and_abort(
                    entry, subentry, title=title, data=data
                )
        shown = user_input or (
            {CONF_NAME: subentry.title, **subentry.data} if subentry else {}
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(STEP_BATTERY, shown),
            errors=errors,
            description_placeholders=placeholders,
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
        """Check the settings against the inputs the entry was added with."""
        return validate_options(user_input, self.config_entry.data)

    async def async_step_peak_shaving(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take the form back: its step is named for its texts."""
        return await self.async_step_init(user_input)
