"""The battery manager's forms: inputs and outputs when added, settings after.

Errors are found in the form, not at runtime: a battery without a current
or power input, a select option the chosen entity does not offer, a setpoint
outside the number's range, a floor above the ceiling.
"""

from collections.abc import Mapping
from typing import Any

from homeassistant.components.number import ATTR_MAX, ATTR_MIN
from homeassistant.components.select import ATTR_OPTIONS
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
)
import probatio

from ..const import (
    CONF_BMS_SOC_ENTITY,
    CONF_CHARGE_SWITCH_ENTITY,
    CONF_CURRENT_ENTITY,
    CONF_MODE_SELECT_ENTITY,
    CONF_OPTION_CHARGE,
    CONF_OPTION_REST,
    CONF_OPTION_SELL,
    CONF_POWER_ENTITY,
    CONF_SELL_SWITCH_ENTITY,
    CONF_SETPOINT_CHARGE,
    CONF_SETPOINT_ENTITY,
    CONF_SETPOINT_REST,
    CONF_SETPOINT_SELL,
    CONF_TEMPERATURE_ENTITY,
    CONF_VOLTAGE_ENTITY,
)
from ..controller.flow import ControllerOptionsFlow
from ..controller.outputs import NUMBER_DOMAINS, SELECT_DOMAINS, SWITCH_DOMAINS
from ..controller.selectors import choice_picker, sensor_picker
from ..lib.control.battery_manager import Chemistry
from .settings import (
    SETTING_CAPACITY_AH,
    SETTING_CELLS_IN_SERIES,
    SETTING_CHEMISTRY,
    default_options,
    options_schema,
    validate_options,
)

SECTION_OUTPUTS = "outputs"

_MODE_OPTIONS = (CONF_OPTION_CHARGE, CONF_OPTION_REST, CONF_OPTION_SELL)
_SETPOINTS = (CONF_SETPOINT_CHARGE, CONF_SETPOINT_REST, CONF_SETPOINT_SELL)


def _entity(*domains: str) -> EntitySelector:
    """Return a picker of entities of some domains."""
    return EntitySelector(EntitySelectorConfig(domain=list(domains)))


_ANY_NUMBER = NumberSelector(
    NumberSelectorConfig(mode=NumberSelectorMode.BOX, step="any")
)

STEP_BATTERY_MANAGER = probatio.Schema(
    {
        probatio.Required(CONF_NAME, default="Battery"): TextSelector(),
        probatio.Required(
            SETTING_CHEMISTRY, default=Chemistry.LFP.value
        ): choice_picker(Chemistry, SETTING_CHEMISTRY),
        probatio.Required(SETTING_CELLS_IN_SERIES, default=16): probatio.All(
            NumberSelector(
                NumberSelectorConfig(
                    min=1, max=400, step=1, mode=NumberSelectorMode.BOX
                )
            ),
            probatio.Coerce(int),
        ),
        probatio.Required(SETTING_CAPACITY_AH): probatio.All(
            NumberSelector(
                NumberSelectorConfig(
                    min=1, max=100000, step="any", mode=NumberSelectorMode.BOX
                )
            ),
            probatio.Coerce(float),
        ),
        probatio.Required(CONF_VOLTAGE_ENTITY): sensor_picker(
            SensorDeviceClass.VOLTAGE
        ),
        probatio.Optional(CONF_CURRENT_ENTITY): sensor_picker(
            SensorDeviceClass.CURRENT
        ),
        probatio.Optional(CONF_POWER_ENTITY): sensor_picker(SensorDeviceClass.POWER),
        probatio.Optional(CONF_TEMPERATURE_ENTITY): sensor_picker(
            SensorDeviceClass.TEMPERATURE
        ),
        probatio.Optional(CONF_BMS_SOC_ENTITY): sensor_picker(
            SensorDeviceClass.BATTERY
        ),
        probatio.Required(SECTION_OUTPUTS): section(
            probatio.Schema(
                {
                    probatio.Optional(CONF_MODE_SELECT_ENTITY): _entity(
                        *SELECT_DOMAINS
                    ),
                    probatio.Optional(CONF_OPTION_CHARGE): TextSelector(),
                    probatio.Optional(CONF_OPTION_REST): TextSelector(),
                    probatio.Optional(CONF_OPTION_SELL): TextSelector(),
                    probatio.Optional(CONF_SETPOINT_ENTITY): _entity(*NUMBER_DOMAINS),
                    probatio.Optional(CONF_SETPOINT_CHARGE): _ANY_NUMBER,
                    probatio.Optional(CONF_SETPOINT_REST): _ANY_NUMBER,
                    probatio.Optional(CONF_SETPOINT_SELL): _ANY_NUMBER,
                    probatio.Optional(CONF_CHARGE_SWITCH_ENTITY): _entity(
                        *SWITCH_DOMAINS
                    ),
                    probatio.Optional(CONF_SELL_SWITCH_ENTITY): _entity(
                        *SWITCH_DOMAINS
                    ),
                }
            ),
            {"collapsed": False},
        ),
    }
)


def validate_battery_manager(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    """Check the form; return entry data, options, errors and placeholders."""
    data = {k: v for k, v in user_input.items() if k != SECTION_OUTPUTS}
    data.update(user_input.get(SECTION_OUTPUTS, {}))
    errors: dict[str, str] = {}
    placeholders: dict[str, str] = {"error": ""}
    if not data.get(CONF_CURRENT_ENTITY) and not data.get(CONF_POWER_ENTITY):
        errors["base"] = "current_or_power_required"
    if select_entity := data.get(CONF_MODE_SELECT_ENTITY):
        state = hass.states.get(select_entity)
        offered = state.attributes.get(ATTR_OPTIONS, []) if state else []
        for key in _MODE_OPTIONS:
            if not data.get(key):
                errors[SECTION_OUTPUTS] = "mode_options_required"
            elif state is not None and data[key] not in offered:
                errors[SECTION_OUTPUTS] = "option_not_offered"
                placeholders["error"] = (
                    f"{select_entity} offers {', '.join(map(str, offered))};"
                    f" not {data[key]}"
                )
    if number_entity := data.get(CONF_SETPOINT_ENTITY):
        state = hass.states.get(number_entity)
        for key in _SETPOINTS:
            if data.get(key) is None:
                errors[SECTION_OUTPUTS] = "setpoints_required"
            elif state is not None and not (
                state.attributes.get(ATTR_MIN, float("-inf"))
                <= data[key]
                <= state.attributes.get(ATTR_MAX, float("inf"))
            ):
                errors[SECTION_OUTPUTS] = "setpoint_out_of_range"
                placeholders["error"] = (
                    f"{number_entity} takes {state.attributes.get(ATTR_MIN)}"
                    f" to {state.attributes.get(ATTR_MAX)}; not {data[key]}"
                )
    options = default_options(
        Chemistry(data.pop(SETTING_CHEMISTRY)),
        int(data.pop(SETTING_CELLS_IN_SERIES)),
        float(data.pop(SETTING_CAPACITY_AH)),
    )
    return data, options, errors, placeholders


class BatteryManagerOptionsFlow(ControllerOptionsFlow):
    """Edit a battery manager's thresholds, chemistry, capacity and limits."""

    step_id = "init"
    schema = staticmethod(options_schema)
    validate = staticmethod(validate_options)
