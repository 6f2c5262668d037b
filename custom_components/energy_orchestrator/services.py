"""Actions: what automations ask of the controllers and of the site report.

Each action names the controller entry it is for. Arguments are checked
here, before anything changes; a wrong entry, a value out of range or a
floor above the ceiling is a translated validation error the user sees in
the action's response, and the controller keeps running as it was.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from homeassistant.const import ATTR_CONFIG_ENTRY_ID, ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant, ServiceCall, SupportsResponse, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_get_config_entry
from homeassistant.util import dt as dt_util
import probatio

from .battery_manager.coordinator import BatteryManagerCoordinator
from .battery_manager.settings import (
    SETTING_MIN_REST_MINUTES,
    SETTING_SOC_CEILING,
    SETTING_SOC_FLOOR,
)
from .const import (
    CONF_KIND,
    DOMAIN,
    KIND_BATTERY_MANAGER,
    KIND_FLEXIBLE_LOADS,
    KIND_PEAK_SHAVING,
    KIND_WALLBOX_MANAGER,
)
from .flexible_loads.coordinator import FlexibleLoadsCoordinator
from .lib.control.battery_manager import BatteryMode
from .lib.control.ev_charging import ChargeMode, PhaseChoice
from .peak_shaving.coordinator import PeakShavingCoordinator
from .site_report.actions import ACTIONS as SITE_REPORT_ACTIONS
from .wallbox_manager.coordinator import WallboxManagerCoordinator

SERVICE_SET_BATTERY_MODE = "set_battery_mode"
SERVICE_CALIBRATE_SOC = "calibrate_soc"
SERVICE_SET_BATTERY_THRESHOLDS = "set_battery_thresholds"
SERVICE_START_PEAK_SHAVING = "start_peak_shaving"
SERVICE_STOP_PEAK_SHAVING = "stop_peak_shaving"
SERVICE_SET_GRID_LIMITS = "set_grid_limits"
SERVICE_REPLAN_PEAK_SHAVING = "replan_peak_shaving"
SERVICE_RESET_BILLED_PEAK = "reset_billed_peak"
SERVICE_START_CHARGING = "start_charging"
SERVICE_STOP_CHARGING = "stop_charging"
SERVICE_SET_CHARGER_PHASES = "set_charger_phases"
SERVICE_START_FLEXIBLE_LOADS = "start_flexible_loads"
SERVICE_STOP_FLEXIBLE_LOADS = "stop_flexible_loads"
SERVICE_BOOST_LOAD = "boost_load"
SERVICE_SET_LOAD_NEED = "set_load_need"
ATTR_ENERGY = "energy"
ATTR_TARGET_ENERGY = "target_energy"
ATTR_DEADLINE = "deadline"
ATTR_ABOVE_PEAK_LIMIT = "above_peak_limit"
ATTR_PHASES = "phases"
ATTR_IMPORT_LIMIT = "import_limit"
ATTR_EXPORT_LIMIT = "export_limit"

ATTR_MODE = "mode"
ATTR_DURATION = "duration"
ATTR_SOC = "soc"


def _in_range(validator: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Return the validator, refusing what overflows a float, a time or a date.

    Home Assistant's validators let OverflowError through (an unknown error
    to the user); here it is the field's validation error.
    """

    def validate(value: Any) -> Any:
        try:
            return validator(value)
        except OverflowError:
            raise probatio.Invalid("value is out of range") from None

    return validate


def _local_to_utc(value: datetime) -> datetime:
    """Return a time as UTC; one without a zone is in Home Assistant's."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt_util.get_default_time_zone())
    return dt_util.as_utc(value)


# A hold beyond a year is a typo; far beyond it, it is past the last date.
_DURATION = _in_range(
    probatio.All(
        cv.positive_time_period,
        probatio.Range(min=timedelta(minutes=1), max=timedelta(days=366)),
    )
)
_PERCENT = _in_range(
    probatio.All(probatio.Coerce(float), probatio.Range(min=0, max=100))
)

SET_BATTERY_MODE_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_MODE): probatio.In([mode.value for mode in BatteryMode]),
        # After this long the state machine decides again by itself.
        probatio.Optional(ATTR_DURATION): _DURATION,
    }
)
CALIBRATE_SOC_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_SOC): _PERCENT,
    }
)
SET_BATTERY_THRESHOLDS_SCHEMA = probatio.All(
    probatio.Schema(
        {
            probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
            probatio.Optional(SETTING_SOC_FLOOR): _PERCENT,
            probatio.Optional(SETTING_SOC_CEILING): _PERCENT,
            probatio.Optional(SETTING_MIN_REST_MINUTES): _in_range(
                probatio.All(probatio.Coerce(float), probatio.Range(min=0, max=24 * 60))
            ),
        }
    ),
    cv.has_at_least_one_key(
        SETTING_SOC_FLOOR, SETTING_SOC_CEILING, SETTING_MIN_REST_MINUTES
    ),
)


ENTRY_SCHEMA = probatio.Schema({probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string})
_WATTS = _in_range(
    probatio.All(probatio.Coerce(float), probatio.Range(min=0, max=10_000_000))
)
SET_GRID_LIMITS_SCHEMA = probatio.All(
    ENTRY_SCHEMA.extend(
        {
            probatio.Optional(ATTR_IMPORT_LIMIT): _WATTS,
            probatio.Optional(ATTR_EXPORT_LIMIT): _WATTS,
            # After this long the configured limits apply again.
            probatio.Optional(ATTR_DURATION): _DURATION,
        }
    ),
    cv.has_at_least_one_key(ATTR_IMPORT_LIMIT, ATTR_EXPORT_LIMIT),
)


START_CHARGING_SCHEMA = ENTRY_SCHEMA.extend(
    {
        probatio.Required(ATTR_MODE): probatio.In(
            [mode.value for mode in ChargeMode if mode is not ChargeMode.OFF]
        ),
        probatio.Optional(ATTR_TARGET_ENERGY): _in_range(
            probatio.All(probatio.Coerce(float), probatio.Range(min=0.1, max=500))
        ),
        probatio.Optional(ATTR_DEADLINE): probatio.All(
            cv.datetime, _in_range(_local_to_utc)
        ),
        probatio.Optional(ATTR_ABOVE_PEAK_LIMIT, default=False): cv.boolean,
    }
)
BOOST_LOAD_SCHEMA = ENTRY_SCHEMA.extend(
    {
        probatio.Required(ATTR_ENTITY_ID): cv.entity_id,
        probatio.Required(ATTR_DURATION): _in_range(
            probatio.All(
                cv.positive_time_period,
                probatio.Range(min=timedelta(minutes=1), max=timedelta(days=1)),
            )
        ),
    }
)
SET_LOAD_NEED_SCHEMA = ENTRY_SCHEMA.extend(
    {
        probatio.Required(ATTR_ENTITY_ID): cv.entity_id,
        # kWh for the load's window open now.
        probatio.Required(ATTR_ENERGY): _in_range(
            probatio.All(probatio.Coerce(float), probatio.Range(min=0, max=10_000))
        ),
    }
)
SET_CHARGER_PHASES_SCHEMA = ENTRY_SCHEMA.extend(
    {probatio.Required(ATTR_PHASES): probatio.In([c.value for c in PhaseChoice])}
)


def _coordinator(hass: HomeAssistant, call: ServiceCall, kind: str, not_it: str) -> Any:
    """Return the coordinator of the entry the call names, if it is of ``kind``.

    ``not_it`` is the translated error for an entry of another kind.
    """
    entry = async_get_config_entry(hass, DOMAIN, call.data[ATTR_CONFIG_ENTRY_ID])
    if entry.data.get(CONF_KIND) != kind:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=not_it,
            translation_placeholders={"entry": entry.title},
        )
    return entry.runtime_data.coordinator


def _wallbox_manager(
    hass: HomeAssistant, call: ServiceCall
) -> WallboxManagerCoordinator:
    """Return the coordinator of the wallbox manager the call names."""
    coordinator: WallboxManagerCoordinator = _coordinator(
        hass, call, KIND_WALLBOX_MANAGER, "not_a_wallbox_manager"
    )
    return coordinator


def _peak_shaving(hass: HomeAssistant, call: ServiceCall) -> PeakShavingCoordinator:
    """Return the coordinator of the peak-shaving entry the call names."""
    coordinator: PeakShavingCoordinator = _coordinator(
        hass, call, KIND_PEAK_SHAVING, "not_peak_shaving"
    )
    return coordinator


def _battery_manager(
    hass: HomeAssistant, call: ServiceCall
) -> BatteryManagerCoordinator:
    """Return the coordinator of the battery manager the call names."""
    coordinator: BatteryManagerCoordinator = _coordinator(
        hass, call, KIND_BATTERY_MANAGER, "not_a_battery_manager"
    )
    return coordinator


def _flexible_loads(hass: HomeAssistant, call: ServiceCall) -> FlexibleLoadsCoordinator:
    """Return the coordinator of the flexible loads entry the call names."""
    coordinator: FlexibleLoadsCoordinator = _coordinator(
        hass, call, KIND_FLEXIBLE_LOADS, "not_flexible_loads"
    )
    return coordinator


async def _start_flexible_loads(call: ServiceCall) -> None:
    """Start steering the flexible loads."""
    await _flexible_loads(call.hass, call).async_start()


async def _stop_flexible_loads(call: ServiceCall) -> None:
    """Stop steering the flexible loads; they go to their safe state."""
    await _flexible_loads(call.hass, call).async_stop()


async def _boost_load(call: ServiceCall) -> None:
    """Run a load now, for a while."""
    await _flexible_loads(call.hass, call).async_boost(
        call.data[ATTR_ENTITY_ID], call.data[ATTR_DURATION]
    )


async def _set_load_need(call: ServiceCall) -> None:
    """Set a load's need for today."""
    await _flexible_loads(call.hass, call).async_set_need(
        call.data[ATTR_ENTITY_ID], call.data[ATTR_ENERGY] * 1000
    )


async def _set_battery_mode(call: ServiceCall) -> None:
    """Hold a battery manager in a mode, for a while or until changed."""
    coordinator = _battery_manager(call.hass, call)
    duration: timedelta | None = call.data.get(ATTR_DURATION)
    until = dt_util.utcnow() + duration if duration is not None else None
    await coordinator.async_request_mode(BatteryMode(call.data[ATTR_MODE]), until)


async def _calibrate_soc(call: ServiceCall) -> None:
    """Set a battery manager's SOC to what the user knows it is."""
    coordinator = _battery_manager(call.hass, call)
    await coordinator.async_calibrate_soc(call.data[ATTR_SOC])


async def _set_battery_thresholds(call: ServiceCall) -> None:
    """Change a battery manager's thresholds."""
    coordinator = _battery_manager(call.hass, call)
    changes: dict[str, Any] = {
        key: value for key, value in call.data.items() if key != ATTR_CONFIG_ENTRY_ID
    }
    await coordinator.async_update_settings(changes)


async def _start_peak_shaving(call: ServiceCall) -> None:
    """Start peak shaving."""
    await _peak_shaving(call.hass, call).async_start()


async def _stop_peak_shaving(call: ServiceCall) -> None:
    """Stop peak shaving; the batteries go to 0 W."""
    await _peak_shaving(call.hass, call).async_stop()


async def _replan_peak_shaving(call: ServiceCall) -> None:
    """Plan peak shaving again now."""
    await _peak_shaving(call.hass, call).async_replan()


async def _reset_billed_peak(call: ServiceCall) -> None:
    """Start the billing period's peak afresh."""
    await _peak_shaving(call.hass, call).async_reset_billed_peak()


async def _set_grid_limits(call: ServiceCall) -> None:
    """Set peak shaving's grid limits, for a while or until changed."""
    coordinator = _peak_shaving(call.hass, call)
    duration: timedelta | None = call.data.get(ATTR_DURATION)
    until = dt_util.utcnow() + duration if duration is not None else None
    await coordinator.async_set_limits(
        import_limit_w=call.data.get(ATTR_IMPORT_LIMIT),
        export_limit_w=call.data.get(ATTR_EXPORT_LIMIT),
        until=until,
    )


async def _start_charging(call: ServiceCall) -> None:
    """Start charging the car in a mode, with a target and deadline."""
    coordinator = _wallbox_manager(call.hass, call)
    target = call.data.get(ATTR_TARGET_ENERGY)
    await coordinator.async_start(
        mode=ChargeMode(call.data[ATTR_MODE]),
        target_energy_wh=target * 1000 if target is not None else None,
        deadline=call.data.get(ATTR_DEADLINE),
        above_peak_limit=call.data[ATTR_ABOVE_PEAK_LIMIT],
    )


async def _stop_charging(call: ServiceCall) -> None:
    """Stop charging the car."""
    await _wallbox_manager(call.hass, call).async_stop()


async def _set_charger_phases(call: ServiceCall) -> None:
    """Charge the car on one phase, three, or as the manager sees fit."""
    await _wallbox_manager(call.hass, call).async_set_phases(
        PhaseChoice(call.data[ATTR_PHASES])
    )


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the controllers' and the site report's actions."""
    for name, handler, schema in (
        (SERVICE_START_CHARGING, _start_charging, START_CHARGING_SCHEMA),
        (SERVICE_STOP_CHARGING, _stop_charging, ENTRY_SCHEMA),
        (SERVICE_SET_CHARGER_PHASES, _set_charger_phases, SET_CHARGER_PHASES_SCHEMA),
        (SERVICE_START_PEAK_SHAVING, _start_peak_shaving, ENTRY_SCHEMA),
        (SERVICE_STOP_PEAK_SHAVING, _stop_peak_shaving, ENTRY_SCHEMA),
        (SERVICE_REPLAN_PEAK_SHAVING, _replan_peak_shaving, ENTRY_SCHEMA),
        (SERVICE_RESET_BILLED_PEAK, _reset_billed_peak, ENTRY_SCHEMA),
        (SERVICE_SET_GRID_LIMITS, _set_grid_limits, SET_GRID_LIMITS_SCHEMA),
        (SERVICE_START_FLEXIBLE_LOADS, _start_flexible_loads, ENTRY_SCHEMA),
        (SERVICE_STOP_FLEXIBLE_LOADS, _stop_flexible_loads, ENTRY_SCHEMA),
        (SERVICE_BOOST_LOAD, _boost_load, BOOST_LOAD_SCHEMA),
        (SERVICE_SET_LOAD_NEED, _set_load_need, SET_LOAD_NEED_SCHEMA),
        (SERVICE_SET_BATTERY_MODE, _set_battery_mode, SET_BATTERY_MODE_SCHEMA),
        (SERVICE_CALIBRATE_SOC, _calibrate_soc, CALIBRATE_SOC_SCHEMA),
        (
            SERVICE_SET_BATTERY_THRESHOLDS,
            _set_battery_thresholds,
            SET_BATTERY_THRESHOLDS_SCHEMA,
        ),
    ):
        hass.services.async_register(DOMAIN, name, handler, schema=schema)
    # The site report's actions answer with data (the report, what was read).
    for name, handler, schema in SITE_REPORT_ACTIONS:
        hass.services.async_register(
            DOMAIN,
            name,
            handler,
            schema=schema,
            supports_response=SupportsResponse.OPTIONAL,
        )
