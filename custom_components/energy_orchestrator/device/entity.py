"""Base entity of the Energy Orchestrator integration."""

from typing import override

from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from ..lib.drivers.values import SUB_DEVICE_SEPARATOR
from .coordinator import DeviceCoordinator, DeviceRuntimeData


class EnergyOrchestratorEntity(CoordinatorEntity[DeviceCoordinator]):
    """An entity showing one canonical value of a device.

    Its unique id is the device's (its serial number, for a device entry)
    and the canonical key, so it survives a change of address, gateway or
    unit id. It takes the device, not an entry: a remote node's entry has
    several devices.
    """

    _attr_has_entity_name = True

    def __init__(
        self,
        device: DeviceRuntimeData,
        description: EntityDescription,
    ) -> None:
        """Initialize the entity of one of a device's values."""
        super().__init__(device.coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{device.unique_id}_{description.key}"
        # A sub-device's value ("pack2/battery_soc") belongs to that device.
        sub_device, _, _ = description.key.rpartition(SUB_DEVICE_SEPARATOR)
        self._attr_device_info = (
            device.sub_device_info[sub_device] if sub_device else device.device_info
        )

    @property
    @override
    def available(self) -> bool:
        """Return whether the last poll brought a value that can be trusted.

        A value the device did not deliver, or that failed the plausibility
        check, is unavailable rather than stale or zero.
        """
        return super().available and self.entity_description.key in (
            self.coordinator.data or {}
        )
