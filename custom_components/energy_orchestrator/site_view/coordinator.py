"""The coordinator of the site view: what the controllers share, gathered.

It steers nothing. Each step it reads what the controllers leave for one
another (the claims on outputs, the output changes and their layers, the
room under the site's limits, the peak plan's reserve) and their plans,
and makes one ``SiteView`` of it for the site device's sensors.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from ..const import (
    CONF_KIND,
    CONTROLLER_STEP,
    DOMAIN,
    KIND_BATTERY_MANAGER,
    KIND_FLEXIBLE_LOADS,
    KIND_PEAK_SHAVING,
    KIND_WALLBOX_MANAGER,
    LOGGER,
)
from ..controller.ownership import owner_of_each
from ..controller.site_decisions import OutputChange, async_output_changes
from ..controller.site_limits import async_site_headroom
from ..flexible_loads.coordinator import FlexibleLoadsStatus
from ..lib.control.battery_manager import BatteryStatus
from ..lib.control.ev_charging import EvStatus
from ..lib.control.peak_shaving import PeakShavingStatus

type SiteConfigEntry = ConfigEntry[SiteRuntimeData]


@dataclass(frozen=True, kw_only=True)
class CarPlan:
    """What one wallbox manager has on: the session as a dashboard draws it."""

    controller: str
    mode: str
    power_w: float
    # When a deadline session plans to start, and the deadline.
    start: datetime | None
    deadline: datetime | None
    target_kwh: float | None
    delivered_kwh: float
    # The power the flexible loads' plan places the session at, per step
    # (empty: no plan places it).
    plan: tuple[tuple[datetime, float], ...] = ()


@dataclass(frozen=True, kw_only=True)
class BatteryPlanRow:
    """One step of a peak plan: the battery's planned SOC and the grid."""

    controller: str
    start: datetime
    soc: float
    grid_w: float


@dataclass(frozen=True, kw_only=True)
class BatteryPriceRow:
    """One slot of a battery manager's price plan: its mode, price and SOC."""

    controller: str
    start: datetime
    mode: str
    price: float
    soc: float


@dataclass(frozen=True, kw_only=True)
class LoadPlan:
    """One flexible load: what it does now and its plan, step by step."""

    controller: str
    load: str
    reason: str | None
    power_w: float
    plan: tuple[tuple[datetime, float], ...]


@dataclass(frozen=True, kw_only=True)
class SiteView:
    """What the site device shows after a step."""

    owners: dict[str, str]
    changes: dict[str, OutputChange]
    grid_headroom_w: float | None
    phase_headroom_w: float | None
    connection_headroom_w: float | None = None
    battery: tuple[BatteryPlanRow, ...] = ()
    battery_prices: tuple[BatteryPriceRow, ...] = ()
    cars: tuple[CarPlan, ...] = ()
    loads: tuple[LoadPlan, ...] = ()

    @property
    def last_change(self) -> OutputChange | None:
        """Return the latest change of any output (of two at once, the later one)."""
        return max(
            reversed(self.changes.values()), key=lambda change: change.at, default=None
        )

    @property
    def planned_peak_w(self) -> float | None:
        """Return the highest grid import the peak plans have, None without one."""
        return max((row.grid_w for row in self.battery), default=None)


class SiteViewCoordinator(DataUpdateCoordinator[SiteView]):
    """Gathers the site's view each controller step."""

    config_entry: SiteConfigEntry

    def __init__(self, hass: HomeAssistant, entry: SiteConfigEntry) -> None:
        """Step as often as the controllers do."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=CONTROLLER_STEP,
        )

    async def _async_update_data(self) -> SiteView:
        """Gather the view now."""
        # The registry of kinds holds this package: read at run time.
        from ..kinds import outputs_of  # noqa: PLC0415

        now = dt_util.utcnow()
        headroom = async_site_headroom(self.hass, now)
        battery: list[BatteryPlanRow] = []
        battery_prices: list[BatteryPriceRow] = []
        cars: dict[str, CarPlan] = {}
        planned_cars: dict[str, tuple[tuple[datetime, float], ...]] = {}
        loads: list[LoadPlan] = []
        # Each loaded controller's outputs, written yet or not; a claim made
        # at run time says who really holds one.
        owners: dict[str, str] = {}
        for entry in self.hass.config_entries.async_loaded_entries(DOMAIN):
            kind = entry.data.get(CONF_KIND)
            for output in outputs_of(entry):
                owners.setdefault(output, entry.title)
            status = getattr(
                getattr(entry.runtime_data, "coordinator", None), "data", None
            )
            if kind == KIND_PEAK_SHAVING and isinstance(status, PeakShavingStatus):
                battery.extend(
                    BatteryPlanRow(
                        controller=entry.title,
                        start=row.start,
                        soc=row.soc,
                        grid_w=row.grid_w,
                    )
                    for row in status.plan
                )
            elif (
                kind == KIND_BATTERY_MANAGER
                and isinstance(status, BatteryStatus)
                and status.price_plan is not None
            ):
                battery_prices.extend(
                    BatteryPriceRow(
                        controller=entry.title,
                        start=slot.start,
                        mode=slot.mode.value,
                        price=slot.price,
                        soc=slot.soc,
                    )
                    for slot in status.price_plan.slots
                )
            elif kind == KIND_WALLBOX_MANAGER and isinstance(status, EvStatus):
                cars[entry.entry_id] = _car_plan(entry, status)
            elif kind == KIND_FLEXIBLE_LOADS and isinstance(
                status, FlexibleLoadsStatus
            ):
                loads.extend(
                    LoadPlan(
                        controller=entry.title,
                        load=load.title,
                        reason=load.reason,
                        power_w=load.power_w,
                        plan=tuple(load.plan),
                    )
                    for load in status.loads.values()
                )
                for entry_id, planned in status.cars.items():
                    planned_cars.setdefault(entry_id, tuple(planned))
        return SiteView(
            owners=dict(sorted({**owners, **owner_of_each(self.hass)}.items())),
            changes=async_output_changes(self.hass),
            grid_headroom_w=None if headroom is None else headroom.grid_w,
            phase_headroom_w=None if headroom is None else headroom.phase_w,
            connection_headroom_w=None if headroom is None else headroom.connection_w,
            battery=tuple(battery),
            battery_prices=tuple(battery_prices),
            cars=tuple(
                replace(car, plan=planned_cars.get(entry_id, ()))
                for entry_id, car in cars.items()
            ),
            loads=tuple(loads),
        )


def _car_plan(entry: ConfigEntry[Any], status: EvStatus) -> CarPlan:
    """Return a wallbox manager's session as the site plan shows it."""
    manager = entry.runtime_data.coordinator.manager
    memory = manager.memory
    command = status.command
    power = (
        command.current_a * command.phases * manager.limits.voltage_v
        if command.enable
        else 0.0
    )
    return CarPlan(
        controller=entry.title,
        mode=status.mode.value,
        power_w=power,
        start=status.deadline_start,
        deadline=memory.deadline,
        target_kwh=None
        if memory.target_energy_wh is None
        else memory.target_energy_wh / 1000,
        delivered_kwh=status.session_energy_wh / 1000,
    )


@dataclass(kw_only=True)
class SiteRuntimeData:
    """Runtime data of the site entry."""

    coordinator: SiteViewCoordinator
    device_info: DeviceInfo
