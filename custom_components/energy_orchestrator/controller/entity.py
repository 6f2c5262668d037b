"""Base entities of a controller entry (battery manager, peak shaving, wallbox)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.typing import StateType
from homeassistant.helpers.update_coordinator import (
    CoordinatorEntity,
    DataUpdateCoordinator,
)

from ..const import DOMAIN


def controller_device_info(entry: ConfigEntry[Any], model: str) -> DeviceInfo:
    """Return the service device that holds a controller's entities (any kind)."""
    return DeviceInfo(
        identifiers={(DOMAIN, entry.entry_id)},
        entry_type=DeviceEntryType.SERVICE,
        manufacturer="Energy Orchestrator",
        model=model,
        name=entry.title,
    )


class ControllerEntity[CoordinatorT: DataUpdateCoordinator[Any]](
    CoordinatorEntity[CoordinatorT]
):
    """An entity of a controller; its unique id is the entry's id and its key."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: CoordinatorT,
        device_info: DeviceInfo,
        description: EntityDescription,
    ) -> None:
        """Initialize the entity."""
        super().__init__(coordinator)
        self.entity_description = description
        assert coordinator.config_entry is not None
        self._attr_unique_id = f"{coordinator.config_entry.entry_id}_{description.key}"
        self._attr_device_info = device_info


def _always(status: object) -> bool:
    """Return True: a figure that is always there when the step ran."""
    return True


@dataclass(frozen=True, kw_only=True)
class ControllerSensorEntityDescription[StatusT](SensorEntityDescription):
    """Describes a sensor showing one figure of a controller's status.

    A figure ``value_fn`` gives as None is unknown: there is nothing yet (no
    plan without history, no session's share before it took energy).
    ``available_fn`` says when the figure cannot be trusted instead (its
    inputs cannot be read): the sensor is then unavailable.
    """

    value_fn: Callable[[StatusT], StateType | datetime]
    attributes_fn: Callable[[StatusT], Mapping[str, Any]] | None = None
    available_fn: Callable[[StatusT], bool] = _always


class _HasReason(Protocol):
    """A controller status that says why it is in its state."""

    @property
    def reason(self) -> StrEnum:
        """Return the reason code."""


def reason_description[StatusT: _HasReason](
    translation_key: str, reasons: type[StrEnum]
) -> ControllerSensorEntityDescription[StatusT]:
    """Return the description of a controller's Reason sensor: its reason code, in words."""
    return ControllerSensorEntityDescription[StatusT](
        key="reason",
        translation_key=translation_key,
        device_class=SensorDeviceClass.ENUM,
        options=[reason.value for reason in reasons],
        value_fn=lambda status: status.reason.value,
    )


class ControllerSensor[StatusT](
    ControllerEntity[DataUpdateCoordinator[StatusT]], SensorEntity
):
    """A figure of a controller's last step, with its context as attributes."""

    entity_description: ControllerSensorEntityDescription[StatusT]

    @property
    @override
    def native_value(self) -> StateType | datetime:
        """Return the figure from the last step."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    @override
    def available(self) -> bool:
        """Return whether the step ran and the figure can be trusted.

        A figure there is nothing of yet stays available, its state unknown.
        """
        return super().available and self.entity_description.available_fn(
            self.coordinator.data
        )

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Return the figure's context (the reason of a state, for one)."""
        if (attributes_fn := self.entity_description.attributes_fn) is None:
            return None
        return attributes_fn(self.coordinator.data)
