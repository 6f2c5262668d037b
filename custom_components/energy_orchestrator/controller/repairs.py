"""The repair flow every controller shares: replace an input that no longer exists.

Home Assistant loads it with the integration's repairs platform
(``repairs.py``) only, when the user opens a fixable issue.
"""

from typing import Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntry
from homeassistant.helpers.selector import EntitySelector
import probatio

# The field of the form that replaces a missing input.
REPLACEMENT = "replacement"


class ReplaceInputFlow(RepairsFlow):
    """Replace an input entity that no longer exists; the entry starts again with it."""

    def __init__(
        self,
        entry: ConfigEntry[Any],
        *,
        subentry_id: str | None,
        field: str,
        entity_id: str,
        picker: EntitySelector,
    ) -> None:
        """Replace ``entity_id`` in ``field`` of the entry (or of its subentry)."""
        self.entry = entry
        self.subentry_id = subentry_id
        self.field = field
        self.entity_id = entity_id
        self.picker = picker

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Show the form (Home Assistant hands this step the issue, not an answer)."""
        return await self.async_step_replace()

    async def async_step_replace(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Ask for the entity that replaces the missing one; put it in its place."""
        if user_input is not None:
            self._replace(user_input[REPLACEMENT])
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="replace",
            data_schema=probatio.Schema({probatio.Required(REPLACEMENT): self.picker}),
            description_placeholders={
                "title": self.entry.title,
                "entity_id": self.entity_id,
            },
        )

    def _replace(self, replacement: str) -> None:
        """Write the replacement into the entry's data, or its subentry's; restart it."""
        entries = self.hass.config_entries
        entry = self.entry
        if self.subentry_id is None:
            entries.async_update_entry(
                entry, data={**entry.data, self.field: replacement}
            )
        else:
            subentry = entry.subentries[self.subentry_id]
            entries.async_update_subentry(
                entry, subentry, data={**subentry.data, self.field: replacement}
            )
        # An entry with an update listener (peak shaving) restarts from it.
        if not entry.update_listeners:
            entries.async_schedule_reload(entry.entry_id)
