"""The site report's form: the site's energy entities by role.

Any sensor will do: this integration's devices' energy totals or any other
integration's. PV may name several inverters; every other role at most one.
"""

from collections.abc import Mapping
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import CONF_NAME
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    EntityWithDeviceFilterSelectorConfig,
    TextSelector,
)
import probatio

from ..const import CONF_SUPPLY_THRESHOLD
from ..controller.selectors import number_box, sensor_picker
from ..lib.reports.statistics import ENERGY_ROLES, Role

# The energy roles in the form's order, PV (several) apart.
ENERGY_FIELDS = [role for role in Role if role in ENERGY_ROLES and role is not Role.PV]

STEP_SITE_REPORT = probatio.Schema(
    {
        probatio.Required(CONF_NAME, default="Site report"): TextSelector(),
        probatio.Optional(Role.PV): EntitySelector(
            EntitySelectorConfig(
                filter=EntityWithDeviceFilterSelectorConfig(
                    domain="sensor", device_class=SensorDeviceClass.ENERGY
                ),
                multiple=True,
            )
        ),
        **{
            probatio.Optional(role): sensor_picker(SensorDeviceClass.ENERGY)
            for role in ENERGY_FIELDS
        },
        probatio.Optional(Role.SOC): sensor_picker(SensorDeviceClass.BATTERY),
        probatio.Optional(Role.SUPPLY): EntitySelector(
            EntitySelectorConfig(
                filter=EntityWithDeviceFilterSelectorConfig(domain="sensor")
            )
        ),
        probatio.Required(CONF_SUPPLY_THRESHOLD, default=0): number_box(
            -1000, 1000, ""
        ),
    }
)


def validate_site_report(
    user_input: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    """Return the entry's data; at least one entity must be named."""
    data: dict[str, Any] = {
        key: value for key, value in user_input.items() if value not in (None, "", [])
    }
    # A name left empty is the form's default, not a missing field.
    data.setdefault(CONF_NAME, "Site report")
    errors: dict[str, str] = {}
    if not any(role.value in data for role in Role):
        errors["base"] = "no_site_entities"
    return data, {}, errors, {"error": ""}
