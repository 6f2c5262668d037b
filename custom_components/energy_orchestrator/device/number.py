"""Numbers: the numeric settings a device can be commanded to (limits, currents)."""

from typing import override

from homeassistant.components.number import NumberEntity, NumberMode
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..lib.drivers.commands import CommandSpec
from .command_entity import CommandEntity, commands_of
from .coordinator import DeviceConfigEntry, DeviceRuntimeData


def _is_number(spec: CommandSpec) -> bool:
    """Return whether a command takes a number within known limits."""
    return (
        spec.options is None and spec.minimum is not None and spec.maximum is not None
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DeviceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a number for every numeric command the device takes."""
    async_add_entities(numbers_of(entry.runtime_data))


def numbers_of(device: DeviceRuntimeData) -> list[CommandNumber]:
    """Return a number for every numeric command a device takes."""
    return [CommandNumber(device, spec) for spec in commands_of(device, _is_number)]


class CommandNumber(CommandEntity, NumberEntity):
    """A numeric setting of the device."""

    _attr_entity_category = EntityCategory.CONFIG
    _attr_mode = NumberMode.BOX

    def __init__(self, device: DeviceRuntimeData, spec: CommandSpec) -> None:
        """Initialize the number with the device's limits."""
        super().__init__(device, spec)
        assert spec.minimum is not None
        assert spec.maximum is not None
        self._attr_native_min_value = spec.minimum
        self._attr_native_max_value = spec.maximum
        self._attr_native_step = spec.step or 1.0
        self._attr_native_unit_of_measurement = spec.unit or None

    @property
    @override
    def native_value(self) -> float | None:
        """Return the setting read back from the device."""
        value = self.setting
        return value if isinstance(value, float | int) else None

    @override
    async def async_set_native_value(self, value: float) -> None:
        """Command the device to a new value."""
        await self.async_command(value)
