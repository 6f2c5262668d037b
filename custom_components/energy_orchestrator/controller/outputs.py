"""Writing a controller's decisions to output entities of any integration.

An output is a number (a power or current setpoint), a select (an inverter
mode) or a switch (charge or discharge enable). Control decides values; this
module only sends them, and only when the entity does not show the value
already, so an unchanged decision costs nothing on the device's bus; unless
forced, for a setpoint the device lets lapse when it is not rewritten.
"""

from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from ..const import DOMAIN

# The domains an output entity may live in, and how each takes a value.
NUMBER_DOMAINS = ("number", "input_number")
SELECT_DOMAINS = ("select", "input_select")
SWITCH_DOMAINS = ("switch", "input_boolean")

# Setpoints closer than this to what the entity shows are not sent again:
# a device rounds what it is given, and resending the same value every
# step would only load its bus.
_NUMBER_TOLERANCE = 1e-6


async def async_set_output(
    hass: HomeAssistant,
    entity_id: str,
    value: float | str | bool,
    *,
    force: bool = False,
) -> bool:
    """Bring one output entity to ``value``; return whether a command was sent.

    ``force`` sends the value even when the entity shows it already.

    Raises HomeAssistantError (translated) when the entity is missing or
    unavailable, or when the call fails: the caller decides whether that
    stops the controller or waits for the next step.
    """
    state = hass.states.get(entity_id)
    if state is None or state.state == STATE_UNAVAILABLE:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="output_unavailable",
            translation_placeholders={"entity_id": entity_id},
        )
    domain = entity_id.partition(".")[0]
    if domain in SWITCH_DOMAINS:
        wanted_on = bool(value)
        if (state.state == STATE_ON) == wanted_on and not force:
            return False
        await hass.services.async_call(
            domain,
            SERVICE_TURN_ON if wanted_on else SERVICE_TURN_OFF,
            {ATTR_ENTITY_ID: entity_id},
            blocking=True,
        )
        return True
    if domain in SELECT_DOMAINS:
        if state.state == str(value) and not force:
            return False
        await hass.services.async_call(
            domain,
            "select_option",
            {ATTR_ENTITY_ID: entity_id, "option": str(value)},
            blocking=True,
        )
        return True
    if domain in NUMBER_DOMAINS:
        number = float(value)
        try:
            if abs(float(state.state) - number) <= _NUMBER_TOLERANCE and not force:
                return False
        except ValueError:
            pass
        await hass.services.async_call(
            domain,
            "set_value",
            {ATTR_ENTITY_ID: entity_id, "value": number},
            blocking=True,
        )
        return True
    raise HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="output_unsupported",
        translation_placeholders={"entity_id": entity_id},
    )
