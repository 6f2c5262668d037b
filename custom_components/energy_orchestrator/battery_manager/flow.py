"""The battery manager's forms: inputs and outputs when added, settings after.

Errors are found in the form, not at runtime: a battery without a current
or power input, a select option the chosen entity does not offer, a setpoint
outside the number's range, a floor above the ceiling. What the outputs
must do is watched after the entry is added too (``setup_problems``).
"""

from collections.abc import Mapping
from typing import Any, override

from homeassistant.components.select import ATTR_OPTIONS
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import section
from homeassistant.helpers.issue_registry import IssueSeverity
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
from ..controller.problems import SetupProblem, figure, form_errors, number_range
from ..controller.selectors import choice_picker, sensor_picker
from ..flexible_loads.flow import price_entity_problem
from ..lib.control.battery_manager import Chemistry
from .coordinator import BatteryManagerConfigEntry
from .settings import (
    SETTING_CAPACITY_AH,
    SETTING_CELLS_IN_SERIES,
    SETTING_CHEMISTRY,
    SETTING_PRICE_ENTITY,
    default_options,
    options_schema,
    validate_options,
)

SECTION_OUTPUTS = "outputs"
# The price entity's prices could not be read while the manager ran.
BATTERY_PRICES_UNREADABLE = "battery_prices_unreadable"

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
    if data.get(CONF_MODE_SELECT_ENTITY) and not all(
        data.get(key) for key in _MODE_OPTIONS
    ):
        errors[SECTION_OUTPUTS] = "mode_options_required"
    elif data.get(CONF_SETPOINT_ENTITY) and any(
        data.get(key) is None for key in _SETPOINTS
    ):
        errors[SECTION_OUTPUTS] = "setpoints_required"
    else:
        output_errors, placeholders = form_errors(
            (mode_select_problem(hass, data), setpoint_problem(hass, data)),
            field=SECTION_OUTPUTS,
        )
        errors |= output_errors
    options = default_options(
        Chemistry(data.pop(SETTING_CHEMISTRY)),
        int(data.pop(SETTING_CELLS_IN_SERIES)),
        float(data.pop(SETTING_CAPACITY_AH)),
    )
    return data, options, errors, placeholders


def mode_select_problem(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> SetupProblem | None:
    """Return which option for charge, rest or sell the mode select does not offer."""
    select_entity = data.get(CONF_MODE_SELECT_ENTITY)
    state = hass.states.get(select_entity) if select_entity else None
    if state is None or ATTR_OPTIONS not in state.attributes:
        return None
    offered = [str(option) for option in state.attributes[ATTR_OPTIONS]]
    for key in _MODE_OPTIONS:
        if data[key] not in offered:
            return SetupProblem(
                code="option_not_offered",
                field=CONF_MODE_SELECT_ENTITY,
                subject=state.entity_id,
                detail=f"{state.entity_id} offers {', '.join(offered)}; not {data[key]}",
            )
    return None


def setpoint_problem(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> SetupProblem | None:
    """Return which setpoint for charge, rest or sell the number does not take."""
    number_entity = data.get(CONF_SETPOINT_ENTITY)
    shown = number_range(hass, number_entity) if number_entity else None
    if shown is None:
        return None
    for key in _SETPOINTS:
        if not shown.lowest <= data[key] <= shown.highest:
            return SetupProblem(
                code="setpoint_out_of_range",
                field=CONF_SETPOINT_ENTITY,
                subject=str(number_entity),
                detail=f"{number_entity} takes {shown}; not {figure(data[key])}",
            )
    return None


def setup_problems(
    hass: HomeAssistant, entry: BatteryManagerConfigEntry
) -> list[SetupProblem]:
    """Return what keeps an added battery manager from working: outputs, prices."""
    problems = [
        mode_select_problem(hass, entry.data),
        setpoint_problem(hass, entry.data),
    ]
    coordinator = getattr(entry.runtime_data, "coordinator", None)
    price_problem = getattr(coordinator, "price_problem", None)
    if price_problem:
        problems.append(
            SetupProblem(
                code=BATTERY_PRICES_UNREADABLE,
                field=SETTING_PRICE_ENTITY,
                subject="prices",
                detail=price_problem,
                severity=IssueSeverity.WARNING,
            )
        )
    return [problem for problem in problems if problem is not None]


class BatteryManagerOptionsFlow(ControllerOptionsFlow):
    """Edit a battery manager's thresholds, chemistry, capacity, limits and tariff."""

    step_id = "init"
    schema = staticmethod(options_schema)
    validate = staticmethod(validate_options)

    @override
    def validate_input(
        self, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """Check the settings, and that a price entity carries prices to read."""
        options, errors, placeholders = validate_options(user_input)
        if not errors and (
            problem := price_entity_problem(
                self.hass, SETTING_PRICE_ENTITY, options.get(SETTING_PRICE_ENTITY)
            )
        ):
            errors[SETTING_PRICE_ENTITY] = problem.code
            placeholders["error"] = problem.detail
        return options, errors, placeholders
