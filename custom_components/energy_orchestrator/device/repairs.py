"""The repair flow of a device entry: take the count of a replaced meter.

Home Assistant loads it with the integration's repairs platform
(``repairs.py``) only, when the user opens the issue.
"""

from typing import Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.helpers import issue_registry as ir
import probatio

from ..const import DOMAIN
from .coordinator import DeviceConfigEntry


class MeterReplacedFlow(RepairsFlow):
    """Confirm that a meter was replaced; its lower count becomes the total."""

    def __init__(self, entry: DeviceConfigEntry, key: str) -> None:
        """Confirm the replacement behind the energy sensor of ``key``."""
        self.entry = entry
        self.key = key

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Show the confirmation (Home Assistant hands this step the issue)."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Ask to confirm; on yes, the sensor shows the new meter's count."""
        if user_input is not None:
            coordinator = self.entry.runtime_data.coordinator
            if (total := coordinator.energy_totals.get(self.key)) is not None:
                total.accept_replacement()
            coordinator.async_update_listeners()
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=probatio.Schema({}),
            description_placeholders=self._placeholders(),
        )

    def _placeholders(self) -> dict[str, str]:
        """Return the issue's own placeholders: the sensor and the count shown."""
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        if issue is None or issue.translation_placeholders is None:
            return {"entity_id": self.key, "shown": "?"}
        return dict(issue.translation_placeholders)
