"""The repair flow of a device entry: take the count of a replaced meter.

Home Assistant loads it with the integration's repairs platform
(``repairs.py``) only, when the user opens the issue.
"""

from typing import Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntry
from homeassistant.helpers import issue_registry as ir
import probatio

from ..const import DOMAIN
from .coordinator import DeviceCoordinator, DeviceRuntimeData


def _coordinators(entry: ConfigEntry[Any]) -> list[DeviceCoordinator]:
    """Return the coordinators of a device entry, or of a remote node's components.

    A count that is not a replaced meter's is left as it is by
    ``accept_replacement``, so a remote node's components can all be asked.
    """
    runtime = entry.runtime_data
    if isinstance(runtime, DeviceRuntimeData):
        return [runtime.coordinator]
    components: dict[str, DeviceRuntimeData] = getattr(runtime, "components", {})
    return [component.coordinator for component in components.values()]


class MeterReplacedFlow(RepairsFlow):
    """Confirm that a meter was replaced; its lower count becomes the total."""

    def __init__(self, entry: ConfigEntry[Any], key: str) -> None:
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
            for coordinator in _coordinators(self.entry):
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
