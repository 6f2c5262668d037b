"""Reading a controller's inputs from entities, in the units control expects.

An input is trusted only when its entity reports a finite number in a unit
that converts to the one control works in, and reported it recently. Every
other case (unavailable, unknown, text, NaN, a unit that does not fit, a
sensor that stopped reporting) is None: control skips a step rather than act
on a wrong number.
"""

from datetime import datetime, timedelta
from enum import StrEnum
import math

from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    PERCENTAGE,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfPower,
    UnitOfTemperature,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util.unit_conversion import (
    BaseUnitConverter,
    ElectricCurrentConverter,
    ElectricPotentialConverter,
    PowerConverter,
    TemperatureConverter,
)

# A sensor that has not reported for this long is not trusted. Integrations
# write their state on every poll even when the value is unchanged, so a
# healthy source reports far more often than this.
MAX_INPUT_AGE = timedelta(minutes=10)


class InputQuantity(StrEnum):
    """What an input measures, which fixes the unit control receives it in."""

    POWER = "power"
    CURRENT = "current"
    VOLTAGE = "voltage"
    PERCENT = "percent"
    TEMPERATURE = "temperature"


# The unit control works in, and the converter that gets a reading there.
_TARGETS: dict[InputQuantity, tuple[str, type[BaseUnitConverter] | None]] = {
    InputQuantity.POWER: (UnitOfPower.WATT, PowerConverter),
    InputQuantity.CURRENT: (UnitOfElectricCurrent.AMPERE, ElectricCurrentConverter),
    InputQuantity.VOLTAGE: (UnitOfElectricPotential.VOLT, ElectricPotentialConverter),
    InputQuantity.PERCENT: (PERCENTAGE, None),
    InputQuantity.TEMPERATURE: (UnitOfTemperature.CELSIUS, TemperatureConverter),
}


def read_input(
    hass: HomeAssistant,
    entity_id: str | None,
    quantity: InputQuantity,
    now: datetime,
    max_age: timedelta = MAX_INPUT_AGE,
) -> float | None:
    """Return the entity's value in control's unit, or None if not trustworthy."""
    if entity_id is None:
        return None
    state = hass.states.get(entity_id)
    if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return None
    if now - state.last_reported > max_age:
        return None
    try:
        value = float(state.state)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    target_unit, converter = _TARGETS[quantity]
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    if unit == target_unit:
        return value
    if converter is None or unit not in converter.VALID_UNITS:
        # A percentage without a unit, or a power in an unknown unit: a
        # guess would be a wrong number.
        return None
    try:
        return converter.convert(value, unit, target_unit)
    except HomeAssistantError:
        return None
