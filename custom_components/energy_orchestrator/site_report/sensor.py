"""Sensors of a site report: today's and this month's key metrics.

The energy sensors are totals that start again each day or month (their
last reset is the period's start), so the Energy dashboard and statistics
cards take them. Their figures come from the recorder's compiled hours: an
hour missing from the statistics is left out and counted by the
incomplete hours sensor, never filled in.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfEnergy, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from ..lib.reports.metrics import ReportRow
from ..lib.reports.statistics import Role
from .coordinator import SiteFigures, SiteReportConfigEntry, SiteReportCoordinator

TODAY, MONTH = "today", "month"


@dataclass(frozen=True, kw_only=True)
class SiteReportSensorEntityDescription(SensorEntityDescription):
    """A metric of today or of this month; added when the site has its roles."""

    period: str
    figure: Callable[[ReportRow], StateType]
    roles: tuple[Role, ...] = ()


def _kwh(name: str) -> Callable[[ReportRow], StateType]:
    """Return a row's energy figure, to the Wh."""

    def value(row: ReportRow) -> StateType:
        figure = getattr(row, name)
        return None if figure is None else round(figure, 3)

    return value


def _energy(
    key: str, name: str, period: str, role: Role
) -> SiteReportSensorEntityDescription:
    """Return the description of an energy total of a period."""
    return SiteReportSensorEntityDescription(
        key=f"{key}_{period}",
        translation_key=f"{key}_{period}",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=1,
        period=period,
        figure=_kwh(name),
        roles=(role,),
    )


def _outage_hours(row: ReportRow) -> StateType:
    """Return the hours with an outage."""
    return row.outage_hours


def _efficiency(row: ReportRow) -> StateType:
    """Return the battery's round trip, in %."""
    value = row.battery_round_trip_efficiency_pct
    return None if value is None else round(value, 1)


def _incomplete_hours(row: ReportRow) -> StateType:
    """Return the hours with missing or implausible statistics."""
    return row.hours - row.complete_hours


SENSORS: tuple[SiteReportSensorEntityDescription, ...] = (
    _energy("pv_energy", "pv_kwh", TODAY, Role.PV),
    _energy("pv_energy", "pv_kwh", MONTH, Role.PV),
    _energy("load_energy", "load_kwh", TODAY, Role.LOAD),
    _energy("load_energy", "load_kwh", MONTH, Role.LOAD),
    _energy("grid_import_energy", "grid_import_kwh", MONTH, Role.GRID_IMPORT),
    _energy("grid_export_energy", "grid_export_kwh", MONTH, Role.GRID_EXPORT),
    _energy("generator_energy", "generator_kwh", MONTH, Role.GENERATOR),
    SiteReportSensorEntityDescription(
        key="battery_round_trip_month",
        translation_key="battery_round_trip_month",
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        period=MONTH,
        figure=_efficiency,
        roles=(Role.BATTERY_CHARGE, Role.BATTERY_DISCHARGE),
    ),
    SiteReportSensorEntityDescription(
        key="outage_hours_month",
        translation_key="outage_hours_month",
        native_unit_of_measurement=UnitOfTime.HOURS,
        period=MONTH,
        figure=_outage_hours,
        roles=(Role.SUPPLY,),
    ),
    SiteReportSensorEntityDescription(
        key="purchased_energy_month",
        translation_key="purchased_energy_month",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=1,
        period=MONTH,
        figure=_kwh("purchased_kwh"),
    ),
    SiteReportSensorEntityDescription(
        key="incomplete_hours_month",
        translation_key="incomplete_hours_month",
        native_unit_of_measurement=UnitOfTime.HOURS,
        entity_category=EntityCategory.DIAGNOSTIC,
        period=MONTH,
        figure=_incomplete_hours,
    ),
)


class SiteReportSensor(CoordinatorEntity[SiteReportCoordinator], SensorEntity):
    """A metric of the site, today or this month."""

    _attr_has_entity_name = True
    entity_description: SiteReportSensorEntityDescription

    def __init__(
        self,
        coordinator: SiteReportCoordinator,
        description: SiteReportSensorEntityDescription,
    ) -> None:
        """Initialize the sensor on the site report's device."""
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = entry.runtime_data.device_info

    def _row(self) -> ReportRow | None:
        """Return the row of this sensor's period."""
        figures: SiteFigures = self.coordinator.data
        return (
            figures.today if self.entity_description.period == TODAY else figures.month
        )

    @property
    @override
    def native_value(self) -> StateType:
        """Return the metric; unknown before the period's first compiled hour."""
        row = self._row()
        return None if row is None else self.entity_description.figure(row)

    @property
    @override
    def last_reset(self) -> datetime | None:
        """Return when the period began: the day's or the month's start."""
        if self.entity_description.state_class is not SensorStateClass.TOTAL:
            return None
        figures: SiteFigures = self.coordinator.data
        return (
            figures.day_start
            if self.entity_description.period == TODAY
            else figures.month_start
        )

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Return how many of the period's hours are known, and what is missing."""
        row = self._row()
        if row is None:
            return None
        return {
            "hours": row.hours,
            "complete_hours": row.complete_hours,
            "flags": list(row.flags),
        }


class ActiveCustomersSensor(CoordinatorEntity[SiteReportCoordinator], SensorEntity):
    """How many customers hold a valid purchase, as of the last compiled hour."""

    _attr_has_entity_name = True
    _attr_translation_key = "active_customers"
    _attr_state_class = SensorStateClass.MEASUREMENT

    def __init__(self, coordinator: SiteReportCoordinator) -> None:
        """Initialize the sensor on the site report's device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self._attr_unique_id = f"{entry.entry_id}_active_customers"
        self._attr_device_info = entry.runtime_data.device_info

    @property
    @override
    def native_value(self) -> StateType:
        """Return the count; unknown until purchases are imported."""
        figures: SiteFigures = self.coordinator.data
        return figures.active_customers


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SiteReportConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of the roles the site names."""
    coordinator = entry.runtime_data.coordinator
    entities = coordinator.entities
    named = {role for role, _ in entities.all()}
    sensors: list[SensorEntity] = [
        SiteReportSensor(coordinator, description)
        for description in SENSORS
        if set(description.roles) <= named
    ]
    sensors.append(ActiveCustomersSensor(coordinator))
    async_add_entities(sensors)
