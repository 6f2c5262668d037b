"""Selects of the wallbox manager: the charging mode and the phases allowed."""

from typing import override

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..const import DOMAIN
from ..controller.entity import ControllerEntity
from ..lib.control.ev_charging import ChargeMode, PhaseChoice
from .coordinator import WallboxManagerConfigEntry, WallboxManagerCoordinator

MODE = SelectEntityDescription(
    key="charging_mode",
    translation_key="charging_mode",
    options=[mode.value for mode in ChargeMode],
)
PHASES = SelectEntityDescription(
    key="phase_choice",
    translation_key="phase_choice",
    options=[choice.value for choice in PhaseChoice],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WallboxManagerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the mode and phase selects."""
    runtime = entry.runtime_data
    async_add_entities(
        [
            ChargingModeSelect(runtime.coordinator, runtime.device_info, MODE),
            PhaseChoiceSelect(runtime.coordinator, runtime.device_info, PHASES),
        ]
    )


class ChargingModeSelect(ControllerEntity[WallboxManagerCoordinator], SelectEntity):
    """How the car is charged; ``deadline`` needs the start-charging action."""

    @property
    @override
    def current_option(self) -> str:
        """Return the mode in force."""
        return self.coordinator.data.mode.value

    @override
    async def async_select_option(self, option: str) -> None:
        """Start in a mode, or stop with ``off``."""
        mode = ChargeMode(option)
        if mode is ChargeMode.DEADLINE:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="deadline_needs_action"
            )
        if mode is ChargeMode.OFF:
            await self.coordinator.async_stop()
        else:
            await self.coordinator.async_start(mode)


class PhaseChoiceSelect(ControllerEntity[WallboxManagerCoordinator], SelectEntity):
    """Which phases the manager may use: automatic, one or three."""

    @property
    @override
    def current_option(self) -> str:
        """Return the choice in force."""
        return self.coordinator.manager.memory.phase_choice.value

    @override
    async def async_select_option(self, option: str) -> None:
        """Force one or three phases, or let the manager choose."""
        await self.coordinator.async_set_phases(PhaseChoice(option))
