"""Sensors of the flexible loads: the period's net, today's cost, each load's state.

The controller's own figures are on its device; each load's state (why it
is on or off) and its energy today (against its need) are on the load's
own device, which belongs to the load's subentry.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfEnergy
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from ..const import DOMAIN
from ..controller.entity import (
    ControllerEntity,
    ControllerSensor,
    ControllerSensorEntityDescription,
)
from ..lib.control.flexible_loads.netting import LoadReason
from .coordinator import (
    STOPPED,
    FlexibleLoadsConfigEntry,
    FlexibleLoadsCoordinator,
    FlexibleLoadsStatus,
    LoadStatus,
)

type FlexibleLoadsSensorEntityDescription = ControllerSensorEntityDescription[
    FlexibleLoadsStatus
]


def _energy(
    key: str, value_fn: Callable[[FlexibleLoadsStatus], float | None]
) -> FlexibleLoadsSensorEntityDescription:
    """Return the description of one of the netting period's energies."""
    return ControllerSensorEntityDescription[FlexibleLoadsStatus](
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_display_precision=0,
        value_fn=value_fn,
        attributes_fn=lambda status: {
            "period_end": status.period_end.isoformat() if status.period_end else None
        },
        # Unknown while stopped; unavailable while the meter cannot be read.
        available_fn=lambda status: status.grid_w is not None or not status.running,
    )


SENSORS: tuple[FlexibleLoadsSensorEntityDescription, ...] = (
    _energy("period_net", lambda status: status.period_so_far_wh),
    _energy("period_net_projected", lambda status: status.period_projected_wh),
    ControllerSensorEntityDescription[FlexibleLoadsStatus](
        key="cost_today",
        translation_key="cost_today",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        value_fn=lambda status: status.cost_today,
        attributes_fn=lambda status: {
            "price_problem": status.price_problem,
            "plan_cost": status.plan_cost,
            "planned_battery": status.planned_battery,
            "billed_peak": status.billed_peak_w,
        },
    ),
)


@dataclass(frozen=True, kw_only=True)
class LoadSensorEntityDescription(SensorEntityDescription):
    """Describes one figure of a load."""

    value_fn: Callable[[LoadStatus], StateType]
    attributes_fn: Callable[[LoadStatus], Mapping[str, Any]]


def _plan(load: LoadStatus) -> Mapping[str, Any]:
    """Return the load's state in numbers, and its plan as rows a chart can draw."""
    return {
        "power": round(load.power_w),
        "boost_until": load.boost_until.isoformat() if load.boost_until else None,
        "plan": [
            {"start": start.isoformat(), "power": round(watts)}
            for start, watts in load.plan
        ],
    }


LOAD_SENSORS: tuple[LoadSensorEntityDescription, ...] = (
    LoadSensorEntityDescription(
        key="state",
        translation_key="flexible_load_state",
        device_class=SensorDeviceClass.ENUM,
        options=[*(reason.value for reason in LoadReason), STOPPED],
        value_fn=lambda load: load.reason,
        attributes_fn=_plan,
    ),
    LoadSensorEntityDescription(
        key="energy_today",
        translation_key="flexible_load_energy_today",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        # The count starts again each day: a new cycle to statistics.
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=0,
        value_fn=lambda load: round(load.delivered_today_wh, 1),
        attributes_fn=lambda load: {
            "need": round(load.need_wh, 1),
            "remaining": round(load.remaining_wh, 1),
        },
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexibleLoadsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the controller's sensors, and each load's under its subentry."""
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    async_add_entities(
        FlexibleLoadsSensor(coordinator, runtime.device_info, description)
        for description in SENSORS
    )
    for load in coordinator.loads:
        async_add_entities(
            (
                LoadSensor(coordinator, description, load.subentry_id)
                for description in LOAD_SENSORS
            ),
            config_subentry_id=load.subentry_id,
        )


class FlexibleLoadsSensor(ControllerSensor[FlexibleLoadsStatus]):
    """One figure of the flexible loads controller."""

    @property
    @override
    def native_unit_of_measurement(self) -> str | None:
        """Return the unit; a cost is in Home Assistant's currency."""
        if self.entity_description.device_class is SensorDeviceClass.MONETARY:
            return self.hass.config.currency
        return super().native_unit_of_measurement


class LoadSensor(ControllerEntity[FlexibleLoadsCoordinator], SensorEntity):
    """One figure of one load, named by the load."""

    entity_description: LoadSensorEntityDescription
    # The plan is for the dashboard now, not for the database.
    _unrecorded_attributes = frozenset({"plan"})

    def __init__(
        self,
        coordinator: FlexibleLoadsCoordinator,
        description: LoadSensorEntityDescription,
        subentry_id: str,
    ) -> None:
        """Initialize the figure of the load of ``subentry_id``."""
        entry = coordinator.config_entry
        # A device belongs to one subentry: each load is a device of its own,
        # reached through the controller's.
        device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry_id)},
            entry_type=DeviceEntryType.SERVICE,
            manufacturer="Energy Orchestrator",
            model="Flexible load",
            name=entry.subentries[subentry_id].title,
            via_device_id=entry.runtime_data.device_id,
        )
        super().__init__(coordinator, device_info, description)
        self._subentry_id = subentry_id
        self._attr_unique_id = f"{subentry_id}_{description.key}"

    @property
    def _load(self) -> LoadStatus:
        """Return the load's status after the last step."""
        return self.coordinator.data.loads[self._subentry_id]

    @property
    @override
    def native_value(self) -> StateType:
        """Return the figure."""
        return self.entity_description.value_fn(self._load)

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """Return the figure's context."""
        return self.entity_description.attributes_fn(self._load)
