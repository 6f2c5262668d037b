"""Form fields the controllers' config and options flows share."""

from enum import StrEnum
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    EntityWithDeviceFilterSelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
)
import probatio

from ..const import CONF_BILLING_INTERVAL_MIN, CONF_BILLING_PERIOD
from ..lib.control.billing import BillingPeriod


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


def choice_picker(choices: type[StrEnum], translation_key: str) -> SelectSelector:
    """Return a list of every member of an enum, labelled by its translations."""
    return SelectSelector(
        SelectSelectorConfig(
            options=[choice.value for choice in choices],
            translation_key=translation_key,
        )
    )


def billing_fields() -> dict[Any, Any]:
    """Return the demand charge's billing interval and period fields.

    Peak shaving's and the flexible loads' tariff ask them alike.
    """
    return {
        probatio.Required(CONF_BILLING_INTERVAL_MIN, default="15"): SelectSelector(
            SelectSelectorConfig(
                options=["5", "15", "30", "60"],
                translation_key=CONF_BILLING_INTERVAL_MIN,
            )
        ),
        probatio.Required(
            CONF_BILLING_PERIOD, default=BillingPeriod.MONTH.value
        ): choice_picker(BillingPeriod, CONF_BILLING_PERIOD),
    }
