"""Form fields the controllers' config and options flows share."""

from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    EntityWithDeviceFilterSelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
)
import probatio


def sensor_picker(device_class: SensorDeviceClass) -> EntitySelector:
    """Return a picker of sensors of one device class."""
    return EntitySelector(
        EntitySelectorConfig(
            filter=EntityWithDeviceFilterSelectorConfig(
                domain="sensor", device_class=device_class
            )
        )
    )


def number_box(minimum: float, maximum: float, unit: str) -> Any:
    """Return a number box in a unit, taken as a float."""
    return probatio.All(
        NumberSelector(
            NumberSelectorConfig(
                min=minimum,
                max=maximum,
                step="any",
                unit_of_measurement=unit,
                mode=NumberSelectorMode.BOX,
            )
        ),
        probatio.Coerce(float),
    )
