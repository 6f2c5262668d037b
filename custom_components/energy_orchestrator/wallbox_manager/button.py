"""The "charge now" button of the wallbox manager: the user's button beside the wallbox."""

from typing import override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..const import CONF_BUTTON_MODE
from ..controller.entity import ControllerEntity
from ..lib.control.ev_charging import ChargeMode
from .coordinator import WallboxManagerConfigEntry, WallboxManagerCoordinator

CHARGE_NOW = ButtonEntityDescription(key="charge_now", translation_key="charge_now")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WallboxManagerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the button."""
    runtime = entry.runtime_data
    async_add_entities(
        [ChargeNowButton(runtime.coordinator, runtime.device_info, CHARGE_NOW)]
    )


class ChargeNowButton(ControllerEntity[WallboxManagerCoordinator], ButtonEntity):
    """Start charging in the mode the user chose for the button."""

    @override
    async def async_press(self) -> None:
        """Start a session."""
        mode = ChargeMode(self.coordinator.config_entry.options[CONF_BUTTON_MODE])
        await self.coordinator.async_start(mode)
