"""Actions: what automations ask of the controllers (battery manager, peak shaving).

Each action names the controller entry it is for. Arguments are checked
here, before anything changes; a wrong entry, a value out of range or a
floor above the ceiling is a translated validation error the user sees in
the action's response, and the controller keeps running as it was.
"""

from datetime import timedelta
from typing import Any

from homeassistant.const import ATTR_CONFIG_ENTRY_ID, CONF_TYPE
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_get_config_entry
from homeassistant.util import dt as dt_util
import probatio

from .const import DOMAIN, TYPE_BATTERY_MANAGER, TYPE_PEAK_SHAVING
from .control.battery_manager import BatteryMode
from .controllers.battery.coordinator import BatteryManagerCoordinator
from .controllers.battery.settings import (
    SETTING_MIN_REST_MINUTES,
    SETTING_SOC_CEILING,
    SETTING_SOC_FLOOR,
    async_update_settings,
)
from .controllers.peak.coordinator import PeakShavingCoordinator

SERVICE_SET_BATTERY_MODE = "set_battery_mode"
SERVICE_CALIBRATE_SOC = "calibrate_soc"
SERVICE_SET_BATTERY_THRESHOLDS = "set_battery_thresholds"
SERVICE_START_PEAK_SHAVING = "start_peak_shaving"
SERVICE_STOP_PEAK_SHAVING = "stop_peak_shaving"
SERVICE_SET_GRID_LIMITS = "set_grid_limits"
SERVICE_REPLAN_PEAK_SHAVING = "replan_peak_shaving"
ATTR_IMPORT_LIMIT = "import_limit"
ATTR_EXPORT_LIMIT = "export_limit"

ATTR_MODE = "mode"
ATTR_DURATION = "duration"
ATTR_SOC = "soc"

_PERCENT = probatio.All(probatio.Coerce(float), probatio.Range(min=0, max=100))

SET_BATTERY_MODE_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_MODE): probatio.In([mode.value for mode in BatteryMode]),
        # After this long the state machine decides again by itself.
        probatio.Optional(ATTR_DURATION): probatio.All(
            cv.positive_time_period, probatio.Range(min=timedelta(minutes=1))
        ),
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
            probatio.Optional(SETTING_MIN_REST_MINUTES): probatio.All(
                probatio.Coerce(float), probatio.Range(min=0, max=24 * 60)
            ),
        }
    ),
    cv.has_at_least_one_key(
        SETTING_SOC_FLOOR, SETTING_SOC_CEILING, SETTING_MIN_REST_MINUTES
    ),
)


ENTRY_SCHEMA = probatio.Schema({probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string})
_WATTS = probatio.All(probatio.Coerce(float), probatio.Range(min=0, max=10_000_000))
SET_GRID_LIMITS_SCHEMA = probatio.All(
    ENTRY_SCHEMA.extend(
        {
            probatio.Optional(ATTR_IMPORT_LIMIT): _WATTS,
            probatio.Optional(ATTR_EXPORT_LIMIT): _WATTS,
            # After this long the configured limits apply again.
            probatio.Optional(ATTR_DURATION): probatio.All(
                cv.positive_time_period, probatio.Range(min=timedelta(minutes=1))
            ),
        }
    ),
    cv.has_at_least_one_key(ATTR_IMPORT_LIMIT, ATTR_EXPORT_LIMIT),
)


def _peak_shaving(hass: HomeAssistant, call: ServiceCall) -> PeakShavingCoordinator:
    """Return the coordinator of the peak-shaving entry the call names."""
    entry = async_get_config_entry(hass, DOMAIN, call.data[ATTR_CONFIG_ENTRY_ID])
    if entry.data.get(CONF_TYPE) != TYPE_PEAK_SHAVING:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_peak_shaving",
            translation_placeholders={"entry": entry.title},
        )
    coordinator: PeakShavingCoordinator = entry.runtime_data.coordinator
    return coordinator


def _battery_manager(
    hass: HomeAssistant, call: ServiceCall
) -> BatteryManagerCoordinator:
    """Return the coordinator of the battery manager the call names."""
    entry = async_get_config_entry(hass, DOMAIN, call.data[ATTR_CONFIG_ENTRY_ID])
    if entry.data.get(CONF_TYPE) != TYPE_BATTERY_MANAGER:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_a_battery_manager",
            translation_placeholders={"entry": entry.title},
        )
    coordinator: BatteryManagerCoordinator = entry.runtime_data.coordinator
    return coordinator


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the controllers' actions."""

    async def _set_battery_mode(call: ServiceCall) -> None:
        coordinator = _battery_manager(hass, call)
        duration: timedelta | None = call.data.get(ATTR_DURATION)
        until = dt_util.utcnow() + duration if duration is not None else None
        await coordinator.async_request_mode(BatteryMode(call.data[ATTR_MODE]), until)

    async def _calibrate_soc(call: ServiceCall) -> None:
        coordinator = _battery_manager(hass, call)
        await coordinator.async_calibrate_soc(call.data[ATTR_SOC])

    async def _set_battery_thresholds(call: ServiceCall) -> None:
        coordinator = _battery_manager(hass, call)
        changes: dict[str, Any] = {
            key: value
            for key, value in call.data.items()
            if key != ATTR_CONFIG_ENTRY_ID
        }
        await async_update_settings(hass, coordinator, changes)

    async def _start_peak_shaving(call: ServiceCall) -> None:
        await _peak_shaving(hass, call).async_request("start")

    async def _stop_peak_shaving(call: ServiceCall) -> None:
        await _peak_shaving(hass, call).async_request("stop")

    async def _replan_peak_shaving(call: ServiceCall) -> None:
        await _peak_shaving(hass, call).async_request("replan")

    async def _set_grid_limits(call: ServiceCall) -> None:
        coordinator = _peak_shaving(hass, call)
        duration: timedelta | None = call.data.get(ATTR_DURATION)
        until = dt_util.utcnow() + duration if duration is not None else None
        await coordinator.async_request(
            "limits",
            import_limit_w=call.data.get(ATTR_IMPORT_LIMIT),
            export_limit_w=call.data.get(ATTR_EXPORT_LIMIT),
            until=until,
        )

    for name, handler, schema in (
        (SERVICE_START_PEAK_SHAVING, _start_peak_shaving, ENTRY_SCHEMA),
        (SERVICE_STOP_PEAK_SHAVING, _stop_peak_shaving, ENTRY_SCHEMA),
        (SERVICE_REPLAN_PEAK_SHAVING, _replan_peak_shaving, ENTRY_SCHEMA),
        (SERVICE_SET_GRID_LIMITS, _set_grid_limits, SET_GRID_LIMITS_SCHEMA),
        (SERVICE_SET_BATTERY_MODE, _set_battery_mode, SET_BATTERY_MODE_SCHEMA),
        (SERVICE_CALIBRATE_SOC, _calibrate_soc, CALIBRATE_SOC_SCHEMA),
        (
            SERVICE_SET_BATTERY_THRESHOLDS,
            _set_battery_thresholds,
            SET_BATTERY_THRESHOLDS_SCHEMA,
        ),
    ):
        hass.services.async_register(DOMAIN, name, handler, schema=schema)
