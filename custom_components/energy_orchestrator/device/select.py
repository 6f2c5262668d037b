"""Selects: the settings a device takes one of several options for (priorities)."""

from typing import override

from homeassistant.components.select import SelectEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..lib.drivers.commands import CommandSpec
from .command_entity import CommandEntity, commands_of, is_switch
from .coordinator import DeviceConfigEntry, DeviceRuntimeData


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DeviceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a select for every command with options (switches aside)."""
    async_add_entities(selects_of(entry.runtime_data))


def selects_of(device: DeviceRuntimeData) -> list[CommandSelect]:
    """Return a select for every command of a device with options (switches aside)."""
    return [
        CommandSelect(device, spec)
        for spec in commands_of(
            device, lambda spec: spec.options is not None and not is_switch(spec)
        )
    ]


class CommandSelect(CommandEntity, SelectEntity):
    """A setting the device takes one of several options for."""

    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, device: DeviceRuntimeData, spec: CommandSpec) -> None:
        """Initialize the select with the device's options."""
        super().__init__(device, spec)
        self._attr_options = list(spec.options or ())

    @property
    @override
    def current_option(self) -> str | None:
        """Return the option read back from the device."""
        value = self.setting
        return value if isinstance(value, str) else None

    @override
    async def async_select_option(self, option: str) -> None:
        """Command the device to an option."""
        await self.async_command(option)
