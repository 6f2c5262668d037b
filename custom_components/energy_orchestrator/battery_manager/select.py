"""The battery manager's mode select: automatic, or held in one state."""

from typing import override

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..controller.entity import ControllerEntity
from ..lib.control.battery_manager import BatteryMode
from .coordinator import BatteryManagerConfigEntry, BatteryManagerCoordinator

MODE = SelectEntityDescription(
    key="mode",
    translation_key="battery_mode",
    options=[mode.value for mode in BatteryMode],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BatteryManagerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the mode select."""
    runtime = entry.runtime_data
    async_add_entities(
        [BatteryModeSelect(runtime.coordinator, runtime.device_info, MODE)]
    )


class BatteryModeSelect(ControllerEntity[BatteryManagerCoordinator], SelectEntity):
    """The mode the user asked for; "auto" lets the state machine decide.

    A mode held for a while (the set-mode action with a duration) falls
    back to auto by itself; this shows what is asked for now.
    """

    @property
    @override
    def current_option(self) -> str:
        """Return the mode in force."""
        return self.coordinator.data.mode.value

    @override
    async def async_select_option(self, option: str) -> None:
        """Ask for a mode until the user changes it again."""
        await self.coordinator.async_request_mode(BatteryMode(option))
