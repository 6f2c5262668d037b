"""The switch that starts and stops the flexible loads controller."""

from typing import Any, override

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..controller.entity import ControllerEntity
from .coordinator import FlexibleLoadsConfigEntry, FlexibleLoadsCoordinator

CONTROL = SwitchEntityDescription(key="control", translation_key="control_loads")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexibleLoadsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switch."""
    runtime = entry.runtime_data
    async_add_entities(
        [ControlSwitch(runtime.coordinator, runtime.device_info, CONTROL)]
    )


class ControlSwitch(ControllerEntity[FlexibleLoadsCoordinator], SwitchEntity):
    """On: the controller switches the loads; off: they are in the safe state."""

    @property
    @override
    def is_on(self) -> bool:
        """Return whether the controller steers the loads."""
        return self.coordinator.running

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Start steering the loads."""
        await self.coordinator.async_start()

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop steering; the loads go to the safe state."""
        await self.coordinator.async_stop()
