"""The site report's form: the site's energy entities by role, and VRM's history.

Any sensor will do: this integration's devices' energy totals or any other
integration's. PV may name several inverters; every other role at most one.
A site with a Victron VRM account may opt in, in a step of its own, to the
backfill of VRM's hourly history (``vrm.py``); the token is tried on VRM
before the entry takes it. The options flow changes all of it without
re-adding the entry.
"""

from collections.abc import Mapping
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    EntityWithDeviceFilterSelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from ..const import (
    CONF_KIND,
    CONF_SUPPLY_THRESHOLD,
    CONF_VRM_BACKFILL,
    CONF_VRM_SITE_ID,
    CONF_VRM_SOURCES,
    CONF_VRM_TOKEN,
    KIND_SITE_REPORT,
)
from ..controller.selectors import number_box, sensor_picker
from ..lib.reports.statistics import ENERGY_ROLES, Role
from .vrm import async_check_vrm

# The energy roles in the form's order, PV (several) apart.
ENERGY_FIELDS = [role for role in Role if role in ENERGY_ROLES and role is not Role.PV]
VRM_FIELDS = (CONF_VRM_TOKEN, CONF_VRM_SITE_ID, CONF_VRM_SOURCES)
STEP_VRM = f"{KIND_SITE_REPORT}_vrm"

SITE_FIELDS: dict[Any, Any] = {
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
    probatio.Required(CONF_SUPPLY_THRESHOLD, default=0): number_box(-1000, 1000, ""),
    probatio.Required(CONF_VRM_BACKFILL, default=False): BooleanSelector(),
}
STEP_SITE_REPORT = probatio.Schema(
    {
        probatio.Required(CONF_NAME, default="Site report"): TextSelector(),
        **SITE_FIELDS,
    }
)
OPTIONS_SITE_REPORT = probatio.Schema(SITE_FIELDS)
STEP_SITE_REPORT_VRM = probatio.Schema(
    {
        probatio.Required(CONF_VRM_TOKEN): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD)
        ),
        probatio.Required(CONF_VRM_SITE_ID): probatio.All(
            NumberSelector(
                NumberSelectorConfig(min=1, step=1, mode=NumberSelectorMode.BOX)
            ),
            probatio.Coerce(int),
        ),
        probatio.Required(CONF_VRM_SOURCES, default=True): BooleanSelector(),
    }
)


def _kept(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return the fields given a value."""
    return {
        key: value for key, value in user_input.items() if value not in (None, "", [])
    }


def validate_site_report(
    user_input: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    """Return the entry's data; at least one entity, or VRM's history, is needed."""
    data = _kept(user_input)
    if CONF_NAME in user_input:
        # A name left empty is the form's default, not a missing field.
        data.setdefault(CONF_NAME, "Site report")
    errors: dict[str, str] = {}
    if not data.get(CONF_VRM_BACKFILL):
        data.pop(CONF_VRM_BACKFILL, None)
        if not _names_entities(data):
            errors["base"] = "no_site_entities"
    return data, {}, errors, {"error": ""}


def _names_entities(data: Mapping[str, Any]) -> bool:
    """Return whether the form names one of the site's entities."""
    return any(role.value in data for role in Role)


async def async_validate_vrm(
    hass: HomeAssistant, site: Mapping[str, Any], user_input: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Check the VRM settings on VRM itself; return the VRM fields, errors, placeholders."""
    vrm = _kept(user_input)
    if not vrm.get(CONF_VRM_SOURCES) and not _names_entities(site):
        return vrm, {"base": "no_site_entities"}, {"error": ""}
    errors, placeholders = await async_check_vrm(
        hass, vrm[CONF_VRM_TOKEN], vrm[CONF_VRM_SITE_ID]
    )
    return vrm, errors, placeholders


class SiteReportOptionsFlow(OptionsFlow):
    """Change a site report's entities and VRM settings; the entry reloads with them."""

    _site: dict[str, Any]

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the entities as they are."""
        return await self.async_step_site_report()

    async def async_step_site_report(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take the site's entities; go on to VRM's settings where it is turned on."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data, _, errors, _ = validate_site_report(user_input)
            if not errors:
                self._site = data
                if data.get(CONF_VRM_BACKFILL):
                    return await self.async_step_site_report_vrm()
                return self._async_save(data)
        return self.async_show_form(
            step_id=KIND_SITE_REPORT,
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SITE_REPORT, user_input or self.config_entry.data
            ),
            errors=errors,
            last_step=False,
        )

    async def async_step_site_report_vrm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take VRM's token and site, once VRM takes them."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            vrm, errors, placeholders = await async_validate_vrm(
                self.hass, self._site, user_input
            )
            if not errors:
                return self._async_save(self._site | vrm)
        return self.async_show_form(
            step_id=STEP_VRM,
            data_schema=self.add_suggested_values_to_schema(
                STEP_SITE_REPORT_VRM, user_input or self.config_entry.data
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _async_save(self, data: dict[str, Any]) -> ConfigFlowResult:
        """Write the settings into the entry's data and reload it."""
        entry = self.config_entry
        self.hass.config_entries.async_update_entry(
            entry, data={CONF_KIND: entry.data[CONF_KIND], **data}
        )
        self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_create_entry(data={})
