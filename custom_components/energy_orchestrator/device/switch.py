"""Switches: on/off commands (a wallbox's charging, a relay)."""

from typing import Any, override

from homeassistant.components.switch import SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .command_entity import CommandEntity, commands_of, is_switch
from .coordinator import DeviceConfigEntry, DeviceRuntimeData


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DeviceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a switch for every on/off command."""
    async_add_entities(switches_of(entry.runtime_data))


def switches_of(device: DeviceRuntimeData) -> list[CommandSwitch]:
    """Return a switch for every on/off command of a device."""
    return [CommandSwitch(device, spec) for spec in commands_of(device, is_switch)]


class CommandSwitch(CommandEntity, SwitchEntity):
    """An on/off command of the device."""

    @property
    @override
    def is_on(self) -> bool | None:
        """Return the state read back from the device."""
        value = self.setting
        return None if value is None else value == "on"

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Switch on."""
        await self.async_command("on")

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch off."""
        await self.async_command("off")
