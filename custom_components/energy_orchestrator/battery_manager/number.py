"""Numbers of a battery manager: the thresholds a user tunes day to day.

A change goes through the same validation as the options flow (a floor above
the ceiling is refused with a translated error) and is kept in the entry's
options, so it survives a restart.
"""

from dataclasses import dataclass
from typing import override

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..controller.entity import ControllerEntity
from .coordinator import BatteryManagerConfigEntry, BatteryManagerCoordinator
from .settings import (
    SETTING_MIN_REST_MINUTES,
    SETTING_SOC_CEILING,
    SETTING_SOC_FLOOR,
)


@dataclass(frozen=True, kw_only=True)
class BatteryThresholdDescription(NumberEntityDescription):
    """Describes a threshold; its key is the setting it edits."""


THRESHOLDS: tuple[BatteryThresholdDescription, ...] = (
    BatteryThresholdDescription(
        key=SETTING_SOC_FLOOR,
        translation_key=SETTING_SOC_FLOOR,
        device_class=NumberDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        native_min_value=0,
        native_max_value=100,
        native_step=1,
        mode=NumberMode.BOX,
        entity_category=EntityCategory.CONFIG,
    ),
    BatteryThresholdDescription(
        key=SETTING_SOC_CEILING,
        translation_key=SETTING_SOC_CEILING,
        device_class=NumberDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        native_min_value=0,
        native_max_value=100,
        native_step=1,
        mode=NumberMode.BOX,
        entity_category=EntityCategory.CONFIG,
    ),
    BatteryThresholdDescription(
        key=SETTING_MIN_REST_MINUTES,
        translation_key=SETTING_MIN_REST_MINUTES,
        device_class=NumberDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        native_min_value=0,
        native_max_value=24 * 60,
        native_step=1,
        mode=NumberMode.BOX,
        entity_category=EntityCategory.CONFIG,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BatteryManagerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the threshold numbers."""
    runtime = entry.runtime_data
    async_add_entities(
        BatteryThresholdNumber(runtime.coordinator, runtime.device_info, description)
        for description in THRESHOLDS
    )


class BatteryThresholdNumber(ControllerEntity[BatteryManagerCoordinator], NumberEntity):
    """One threshold of the battery manager, kept in the entry's options."""

    entity_description: BatteryThresholdDescription

    @property
    @override
    def native_value(self) -> float:
        """Return the threshold in force."""
        value: float = self.coordinator.config_entry.options[
            self.entity_description.key
        ]
        return value

    @override
    async def async_set_native_value(self, value: float) -> None:
        """Check the new threshold with the others, then apply and keep it."""
        await self.coordinator.async_update_settings(
            {self.entity_description.key: value}
        )
