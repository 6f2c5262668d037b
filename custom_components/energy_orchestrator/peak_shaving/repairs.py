"""Peak shaving's own repair flow: another solar forecast service, or none.

Home Assistant loads it with the integration's repairs platform
(``repairs.py``) only, when the user opens the issue.
"""

from typing import Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.helpers.selector import (
    ConfigEntrySelector,
    ConfigEntrySelectorConfig,
)
import probatio

from ..const import CONF_PV_FORECAST_ENTRY
from .coordinator import PeakShavingConfigEntry
from .pv_forecast import async_is_solar_forecast


class PvForecastEntryFlow(RepairsFlow):
    """Choose another solar forecast service for a removed one, or none."""

    def __init__(self, entry: PeakShavingConfigEntry) -> None:
        """Repair the PV forecast of ``entry``."""
        self.entry = entry

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Show the form (Home Assistant hands this step the issue, not an answer)."""
        return await self.async_step_choose()

    async def async_step_choose(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Take another service (checked as the form checks it), or PV from history."""
        errors: dict[str, str] = {}
        if user_input is not None:
            chosen = user_input.get(CONF_PV_FORECAST_ENTRY)
            if chosen and not await async_is_solar_forecast(self.hass, chosen):
                errors[CONF_PV_FORECAST_ENTRY] = "not_a_solar_forecast"
            else:
                data = {
                    key: value
                    for key, value in self.entry.data.items()
                    if key != CONF_PV_FORECAST_ENTRY
                }
                if chosen:
                    data[CONF_PV_FORECAST_ENTRY] = chosen
                # Peak shaving starts again from its update listener.
                self.hass.config_entries.async_update_entry(self.entry, data=data)
                return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="choose",
            data_schema=probatio.Schema(
                {
                    probatio.Optional(CONF_PV_FORECAST_ENTRY): ConfigEntrySelector(
                        ConfigEntrySelectorConfig()
                    )
                }
            ),
            errors=errors,
            description_placeholders={"title": self.entry.title},
        )
