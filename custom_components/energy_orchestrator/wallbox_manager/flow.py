"""The wallbox manager's forms: meters, wallbox entities and limits.

The charging current number must take every current the manager sets,
from the minimum to the maximum current, in A; the forms refuse one that
does not, and ``setup_problems`` watches the same after the entry is added.

The phase control is a select with the options ``1`` and ``3`` or a number
that takes 1 and 3 (this integration's Alfen has one); the form refuses one
that cannot take both, rather than the manager failing at its first switch.
"""

from collections.abc import Mapping
import math
from typing import Any, override

from homeassistant.components.number import ATTR_MAX, ATTR_MIN, ATTR_STEP
from homeassistant.components.select import ATTR_OPTIONS
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_NAME, UnitOfElectricCurrent
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
)
import probatio

from ..const import (
    CONF_BATTERY_FLOOR_ENTITY,
    CONF_BATTERY_MAX_DISCHARGE_KW,
    CONF_BATTERY_POWER_ENTITY,
    CONF_BATTERY_SOC_ENTITY,
    CONF_BUTTON_MODE,
    CONF_CURRENT_ENTITY_OUT,
    CONF_ENABLE_ENTITY,
    CONF_EV_CONNECTED_ENTITY,
    CONF_EV_POWER_ENTITY,
    CONF_GRID_POWER_ENTITY,
    CONF_MAX_CURRENT_A,
    CONF_MIN_CURRENT_A,
    CONF_MIN_PHASE_SWITCH_MINUTES,
    CONF_PHASES_ENTITY,
    CONF_PV_ROUTING_ENTITY,
    CONF_PV_ROUTING_SHARE,
    KIND_WALLBOX_MANAGER,
)
from ..controller.flow import ControllerOptionsFlow
from ..controller.outputs import NUMBER_DOMAINS, SELECT_DOMAINS, SWITCH_DOMAINS
from ..controller.problems import (
    OUTPUT_WRONG_UNIT,
    SetupProblem,
    figure,
    form_errors,
    number_range,
)
from ..controller.selectors import number_box, sensor_picker
from ..lib.control.ev_charging import ChargeMode
from .coordinator import WallboxManagerConfigEntry, limits_from

# The problem of a current number whose range is short, as the texts name it.
CURRENT_OUT_OF_RANGE = "current_out_of_range"

# What the phase control is set to: one phase or three.
_PHASES = (1, 3)

_OPTION_KEYS = (
    CONF_MIN_CURRENT_A,
    CONF_MAX_CURRENT_A,
    CONF_MIN_PHASE_SWITCH_MINUTES,
    CONF_BATTERY_MAX_DISCHARGE_KW,
    CONF_BUTTON_MODE,
    CONF_PV_ROUTING_SHARE,
)


def options_schema() -> probatio.Schema:
    """Return the limits form (added, and in the options)."""
    return probatio.Schema(
        {
            probatio.Required(CONF_MIN_CURRENT_A, default=6): number_box(1, 80, "A"),
            probatio.Required(CONF_MAX_CURRENT_A, default=16): number_box(1, 80, "A"),
            probatio.Required(CONF_MIN_PHASE_SWITCH_MINUTES, default=10): number_box(
                1, 240, "min"
            ),
            probatio.Optional(CONF_BATTERY_MAX_DISCHARGE_KW): number_box(0, 1000, "kW"),
            probatio.Optional(CONF_PV_ROUTING_SHARE, default=0.67): number_box(
                0.34, 1, ""
            ),
            probatio.Required(
                CONF_BUTTON_MODE, default=ChargeMode.SOLAR_BATTERY.value
            ): SelectSelector(
                SelectSelectorConfig(
                    options=[
                        ChargeMode.SOLAR.value,
                        ChargeMode.SOLAR_BATTERY.value,
                        ChargeMode.FAST.value,
                    ],
                    translation_key="charging_mode",
                )
            ),
        }
    )


STEP_WALLBOX_MANAGER = probatio.Schema(
    {
        probatio.Required(CONF_NAME, default="Wallbox"): TextSelector(),
        probatio.Required(CONF_GRID_POWER_ENTITY): sensor_picker(
            SensorDeviceClass.POWER
        ),
        probatio.Required(CONF_EV_POWER_ENTITY): sensor_picker(SensorDeviceClass.POWER),
        probatio.Optional(CONF_EV_CONNECTED_ENTITY): EntitySelector(
            EntitySelectorConfig(domain="binary_sensor")
        ),
        probatio.Required(CONF_CURRENT_ENTITY_OUT): EntitySelector(
            EntitySelectorConfig(domain=list(NUMBER_DOMAINS))
        ),
        probatio.Optional(CONF_ENABLE_ENTITY): EntitySelector(
            EntitySelectorConfig(domain=list(SWITCH_DOMAINS))
        ),
        probatio.Optional(CONF_PHASES_ENTITY): EntitySelector(
            EntitySelectorConfig(domain=[*SELECT_DOMAINS, *NUMBER_DOMAINS])
        ),
        probatio.Optional(CONF_BATTERY_POWER_ENTITY): sensor_picker(
            SensorDeviceClass.POWER
        ),
        probatio.Optional(CONF_BATTERY_SOC_ENTITY): sensor_picker(
            SensorDeviceClass.BATTERY
        ),
        probatio.Optional(CONF_PV_ROUTING_ENTITY): EntitySelector(
            EntitySelectorConfig(domain=list(SWITCH_DOMAINS))
        ),
        probatio.Optional(CONF_BATTERY_FLOOR_ENTITY): EntitySelector(
            EntitySelectorConfig(domain=["number", "input_number", "sensor"])
        ),
    }
).extend(options_schema().schema)


def validate_options(
    user_input: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Check the limits; return options, errors, placeholders."""
    options = {
        key: user_input[key]
        for key in _OPTION_KEYS
        if user_input.get(key) not in (None, "")
    }
    errors: dict[str, str] = {}
    placeholders = {"error": ""}
    try:
        limits_from({}, options).validate()
    except ValueError as err:
        errors["base"] = "invalid"
        placeholders["error"] = str(err)
    return options, errors, placeholders


def phases_refused(hass: HomeAssistant, entity_id: str) -> str | None:
    """Return why a phase control cannot take one and three phases, or None.

    A select must offer ``1`` and ``3``; a number must take 1 and 3 within
    its range and on its steps. An entity not there yet is not judged.
    """
    state = hass.states.get(entity_id)
    if state is None:
        return None
    if entity_id.partition(".")[0] in SELECT_DOMAINS:
        offered = [str(option) for option in state.attributes.get(ATTR_OPTIONS, [])]
        if missing := [str(p) for p in _PHASES if str(p) not in offered]:
            return (
                f"{entity_id} offers {', '.join(offered) or 'nothing'};"
                f" not {' and '.join(missing)}"
            )
        return None
    low = float(state.attributes.get(ATTR_MIN, -math.inf))
    high = float(state.attributes.get(ATTR_MAX, math.inf))
    if not low <= min(_PHASES) <= max(_PHASES) <= high:
        return f"{entity_id} takes {low:g} to {high:g}; phases are 1 and 3"
    step = float(state.attributes.get(ATTR_STEP) or 0)
    base = low if math.isfinite(low) else 0.0
    if step > 0 and any(
        not math.isclose(base + round((p - base) / step) * step, p, abs_tol=1e-9)
        for p in _PHASES
    ):
        return (
            f"{entity_id} moves in steps of {step:g} from {base:g}; 1 or 3 is not one"
        )
    return None


def validate_wallbox_manager(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    """Split the form into entry data and options; check them and the entities."""
    options, errors, placeholders = validate_options(user_input)
    data = {key: value for key, value in user_input.items() if key not in _OPTION_KEYS}
    if not data.get(CONF_ENABLE_ENTITY):
        # Without a switch the manager could not stop the car.
        errors[CONF_ENABLE_ENTITY] = "enable_required"
    if (entity := data.get(CONF_PHASES_ENTITY)) and (
        refused := phases_refused(hass, entity)
    ):
        errors[CONF_PHASES_ENTITY] = "phases_not_taken"
        placeholders["error"] = refused
    if errors:
        return data, options, errors, placeholders
    errors, placeholders = form_errors(
        (current_problem(hass, data[CONF_CURRENT_ENTITY_OUT], options),)
    )
    return data, options, errors, placeholders


def current_problem(
    hass: HomeAssistant, entity_id: str, options: Mapping[str, Any]
) -> SetupProblem | None:
    """Return why the charging current number cannot take the manager's currents.

    None when it can, or when it shows no range (missing, unavailable).
    """
    shown = number_range(hass, entity_id)
    if shown is None:
        return None
    if shown.unit and shown.unit != UnitOfElectricCurrent.AMPERE:
        return SetupProblem(
            code=OUTPUT_WRONG_UNIT,
            field=CONF_CURRENT_ENTITY_OUT,
            subject=entity_id,
            detail=f"{entity_id} is in {shown.unit}; the wallbox manager sets A",
        )
    lowest = float(options[CONF_MIN_CURRENT_A])
    highest = float(options[CONF_MAX_CURRENT_A])
    if shown.lowest > lowest or shown.highest < highest:
        return SetupProblem(
            code=CURRENT_OUT_OF_RANGE,
            field=CONF_CURRENT_ENTITY_OUT,
            subject=entity_id,
            detail=(
                f"{entity_id} takes {shown}; the manager sets"
                f" {figure(lowest)} to {figure(highest)} A"
            ),
        )
    return None


def setup_problems(
    hass: HomeAssistant, entry: WallboxManagerConfigEntry
) -> list[SetupProblem]:
    """Return what keeps an added wallbox manager from working: its current number."""
    problem = current_problem(hass, entry.data[CONF_CURRENT_ENTITY_OUT], entry.options)
    return [problem] if problem else []


class WallboxManagerOptionsFlow(ControllerOptionsFlow):
    """Edit the wallbox manager's limits (a step of their own, for their texts)."""

    step_id = KIND_WALLBOX_MANAGER
    schema = staticmethod(options_schema)

    @override
    def validate_input(
        self, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """Check the limits, and that the current number takes them.

        What the number itself cannot do (its unit) is not for this form
        (a repair says it), so it does not keep the limits from being changed.
        """
        options, errors, placeholders = validate_options(user_input)
        if errors:
            return options, errors, placeholders
        problem = current_problem(
            self.hass, self.config_entry.data[CONF_CURRENT_ENTITY_OUT], options
        )
        if problem is None or problem.code != CURRENT_OUT_OF_RANGE:
            return options, errors, placeholders
        errors, placeholders = form_errors((problem,), field="base")
        return options, errors, placeholders

    async def async_step_wallbox_manager(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take the form back: its step is named for its texts."""
        return await self.async_step_init(user_input)
