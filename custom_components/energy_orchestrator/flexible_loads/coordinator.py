"""The coordinator that runs the flexible loads and switches them.

Every step it reads the grid meter (a power, or import and export energy
counters whose change gives the mean power since the last step) and each
load's power (its power entity, or its nominal power while its switch is
on, or its number's value), reads the prices, lets
``FlexibleLoadsController`` decide, and writes each load's switch or
number. A load that changes between on and off fires
``energy_orchestrator_load_switched`` (in the logbook).

The plan needs a forecast of the site's net load without the loads: it is
the past days at the same time of day (``lib/control/forecast.py``),
seeded at start from the recorder's week of the grid meter, with PV from a
forecast service or sensor where the entry names one and a PV power
sensor. Without a day of history, or without prices, there is no plan:
the loads then only soak up surplus and meet their needs by their
deadlines.

Where the site has one battery manager (and the option "Plan the battery
with the loads" is on), the plan covers its battery too, as
``eo backtest-site`` runs it: the manager posts its battery's state
(``controller/battery_plan.py``), the plan takes it in, and the battery's
part of the plan is posted back, slot by slot, for the manager to follow.
A wallbox manager's deadline session (posted there too) is placed by the
plan, so the battery and the billed peak are planned with the car's night;
the wallbox manager still drives the car.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
import math
from typing import Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, UnitOfEnergy
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter, PowerConverter

from ..const import (
    CONF_EXPORT_PRICE_ENTITY,
    CONF_GRID_EXPORT_ENERGY_ENTITY,
    CONF_GRID_IMPORT_ENERGY_ENTITY,
    CONF_GRID_POWER_ENTITY,
    CONF_IMPORT_PRICE_ENTITY,
    CONF_PLAN_BATTERY,
    CONF_PV_FORECAST_ENTITY,
    CONF_PV_FORECAST_ENTRY,
    CONF_PV_POWER_ENTITY,
    CONF_SAFE_STATE,
    CONTROLLER_STEP,
    DOMAIN,
    EVENT_LOAD_SWITCHED,
    KIND_FLEXIBLE_LOADS,
    LOGGER,
    SAFE_STATE_OFF,
)
from ..controller.base import ControllerCoordinator
from ..controller.battery_plan import (
    LoadsBatteryPlan,
    PlannableBattery,
    async_battery_planned_by,
    async_plannable_batteries,
    async_plannable_cars,
    async_post_loads_plan,
)
from ..controller.inputs import MAX_INPUT_AGE, InputQuantity, read_input
from ..controller.site_decisions import TO_SAFE_STATE, Why
from ..controller.site_limits import (
    ControllableLoad,
    SiteHeadroom,
    TakenHeadroom,
    async_car_power_entities,
    async_post_controllable_load,
    async_post_headroom,
    async_site_headroom,
    async_take_headroom,
    async_withdraw_headroom,
)
from ..lib.control.battery_price_plan import BatteryPricePlan
from ..lib.control.flexible_loads.battery_part import battery_part
from ..lib.control.flexible_loads.controller import (
    BatterySpec,
    FlexibleLoadsController,
    LoadBook,
    Measurement,
    TickResult,
)
from ..lib.control.flexible_loads.cost import CostBook
from ..lib.control.flexible_loads.loads import LoadControl
from ..lib.control.flexible_loads.netting import (
    LoadDecision,
    LoadReason,
    Projection,
)
from ..lib.control.flexible_loads.planner import Plan, Session
from ..lib.control.flexible_loads.prices import PriceSourceError
from ..lib.control.flexible_loads.tariff import PriceSource, Tariff
from ..lib.control.forecast import SlotHistory, forecast, pv_override
from ..lib.control.reason_layers import layer_of
from ..peak_shaving.pv_forecast import async_service_series, solcast_series
from .entry_loads import (
    EntryLoad,
    commanded_history,
    commanded_w,
    entry_loads,
    watts_per_unit,
)
from .prices import PriceReader
from .settings import demand_terms, fixed_prices, netting_minutes

type FlexibleLoadsConfigEntry = ConfigEntry[FlexibleLoadsRuntimeData]

PLAN_STEP = timedelta(minutes=15)
SEED_DAYS = 7
SEED_SAMPLE = timedelta(minutes=5)
PV_SERVICE_EVERY = timedelta(minutes=15)
# The state of a load's sensor while the controller is stopped.
STOPPED = "stopped"


@dataclass(frozen=True)
class LoadStatus:
    """One load after a step."""

    title: str
    entity_id: str
    # Why it is in its state; ``stopped`` while the controller is; None
    # before the first step that could read the meter.
    reason: str | None
    power_w: float
    delivered_today_wh: float
    need_wh: float
    remaining_wh: float
    # When a boost asked for ends (None: not boosted).
    boost_until: datetime | None = None
    # The plan's power per step from its start (W).
    plan: list[tuple[datetime, float]] = field(default_factory=list)


@dataclass(frozen=True)
class FlexibleLoadsStatus:
    """The controller after a step."""

    running: bool
    grid_w: float | None
    period_so_far_wh: float | None
    period_projected_wh: float | None
    period_end: datetime | None
    cost_today: float | None
    # Why the prices cannot be read (None: they can).
    price_problem: str | None
    plan_start: datetime | None
    plan_cost: float | None
    loads: dict[str, LoadStatus]
    # The battery manager whose battery the plan covers (its title; None: none).
    planned_battery: str | None = None
    # With a demand charge: the billing period's peak so far (W; None: no charge).
    billed_peak_w: float | None = None
    # Each wallbox manager's session the plan places (by its entry id): the
    # planned power per step from the plan's start.
    cars: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)


def _iso(moment: datetime | None) -> str | None:
    """Return a moment as ISO 8601, None as None."""
    return moment.isoformat() if moment is not None else None


def _moment(text: str | None) -> datetime | None:
    """Return a saved ISO 8601 moment."""
    return datetime.fromisoformat(text) if text else None


class FlexibleLoadsCoordinator(ControllerCoordinator[FlexibleLoadsStatus]):
    """Runs the flexible loads (see the module doc)."""

    config_entry: FlexibleLoadsConfigEntry

    def __init__(self, hass: HomeAssistant, entry: FlexibleLoadsConfigEntry) -> None:
        """Initialize; ``_async_setup`` restores the books and seeds the forecast."""
        super().__init__(hass, entry, kind=KIND_FLEXIBLE_LOADS, step=CONTROLLER_STEP)
        self.loads = entry_loads(entry)
        self.timezone = dt_util.get_default_time_zone()
        options = entry.options
        self.fixed: tuple[PriceSource, PriceSource] = fixed_prices(
            options, self.timezone
        )
        self.netting = netting_minutes(options)
        self.demand = demand_terms(options)
        self.readers = {
            key: PriceReader(hass, entity_id)
            for key in (CONF_IMPORT_PRICE_ENTITY, CONF_EXPORT_PRICE_ENTITY)
            if (entity_id := options.get(key))
        }
        # None while an entity's prices cannot be read.
        self.tariff: Tariff | None = Tariff(*self.fixed, self.netting, **self.demand)
        self.price_problem: str | None = None
        self.load_history = SlotHistory(PLAN_STEP)
        self.pv_history = SlotHistory(PLAN_STEP)
        self.pv_series: list[tuple[datetime, float]] = []
        self._pv_read_at: datetime | None = None
        self.running = True
        self.cost = CostBook()
        # The counters' last change (when, import kWh, export kWh) and the
        # mean power up to it.
        self._counters: tuple[datetime, float, float] | None = None
        self._counter_w: float | None = None
        self._last_step: datetime | None = None
        # When each boosted load's boost ends, by load name.
        self.boost_until: dict[str, datetime] = {}
        # The battery planned with the loads (a battery manager's post).
        self.battery: PlannableBattery | None = None
        self._battery_limits: tuple[object, ...] | None = None
        # The battery's part of the last plan, and the plan it is of; set
        # while it is posted.
        self._battery_part: tuple[Plan, BatteryPricePlan] | None = None
        self._batteries_seen = 0
        # The other loads entry whose plan of the battery counts (logged once).
        self._battery_taken_by: str | None = None
        self.controller = FlexibleLoadsController(
            self.tariff,
            [load.load for load in self.loads],
            self._forecast,
            timezone=self.timezone,
            tick=CONTROLLER_STEP,
        )

    @override
    async def _async_setup(self) -> None:
        """Restore the books; seed the forecast from the recorder."""
        now = dt_util.utcnow()
        await self.async_restore(lambda saved: self._restore(saved, now))
        await self._async_seed_history(now)

    def _restore(self, saved: dict[str, Any] | None, now: datetime) -> None:
        """Take the saved books back (raises one of UNUSABLE_STATE if damaged)."""
        if saved is None:
            return
        books = {}
        last = _moment(saved["last_tick"])
        new_day = last is None or (
            last.astimezone(self.timezone).date()
            != now.astimezone(self.timezone).date()
        )
        for key, book in saved["books"].items():
            books[key] = LoadBook(
                window_opens=_moment(book["window_opens"]),
                delivered_wh=float(book["delivered_wh"]),
                delivered_today_wh=0.0
                if new_day
                else float(book["delivered_today_wh"]),
                power_w=float(book["power_w"]),
                switched_at=_moment(book["switched_at"]),
                starts=int(book["starts"]),
                boost=bool(book["boost"]),
                need_override_wh=book["need_override_wh"],
            )
        cost = CostBook.restore(saved["cost"])
        running = bool(saved["running"])
        period_start = _moment(saved["period_start"])
        so_far = float(saved["period_so_far_wh"])
        # Saved before the demand charge, or without one: nothing billed yet.
        billed = saved.get("billed_peak") or {}
        peak_w = float(billed.get("peak_w", 0.0))
        if not (math.isfinite(peak_w) and peak_w >= 0):
            raise ValueError("saved billed peak is not a power")
        boost_until = {
            key: datetime.fromisoformat(moment)
            for key, moment in saved.get("boost_until", {}).items()
        }
        # Every part read: now they replace the new start's.
        for key, book in books.items():
            if key in self.controller.books:
                self.controller.books[key] = book
        self.cost, self.running = cost, running
        self.boost_until = {
            key: moment for key, moment in boost_until.items() if key in books
        }
        self.controller.period_start = period_start
        self.controller.period_so_far_wh = so_far
        if (meter := self.controller.demand_meter) is not None and billed:
            meter.period_key, meter.billed_peak_w = billed.get("period"), peak_w

    @override
    def snapshot(self) -> dict[str, Any]:
        """Return what a restart resumes from: the loads' books, the period, the cost."""
        controller = self.controller
        return {
            "running": self.running,
            "last_tick": _iso(controller.last_tick),
            "period_start": _iso(controller.period_start),
            "period_so_far_wh": controller.period_so_far_wh,
            "billed_peak": None
            if (meter := controller.demand_meter) is None
            else {"period": meter.period_key, "peak_w": meter.billed_peak_w},
            "cost": self.cost.snapshot(),
            "boost_until": {
                key: moment.isoformat() for key, moment in self.boost_until.items()
            },
            "books": {
                key: {
                    "window_opens": _iso(book.window_opens),
                    "delivered_wh": book.delivered_wh,
                    "delivered_today_wh": book.delivered_today_wh,
                    "power_w": book.power_w,
                    "switched_at": _iso(book.switched_at),
                    "starts": book.starts,
                    "boost": book.boost,
                    "need_override_wh": book.need_override_wh,
                }
                for key, book in controller.books.items()
            },
        }

    async def _async_seed_history(self, now: datetime) -> None:
        """Feed the past week of the grid meter (and PV) into the forecast."""
        data = self.config_entry.data
        grid_entity = data.get(CONF_GRID_POWER_ENTITY)
        if grid_entity is None or "recorder" not in self.hass.config.components:
            return
        from homeassistant.components.recorder import history  # noqa: PLC0415
        from homeassistant.helpers.recorder import get_instance  # noqa: PLC0415

        pv_entity = data.get(CONF_PV_POWER_ENTITY)
        load_entities = [load.power_entity or load.entity_id for load in self.loads]
        car_entities = async_car_power_entities(self.hass)
        entities = [entity for entity in (grid_entity, pv_entity) if entity]
        start = now - timedelta(days=SEED_DAYS)
        states = await get_instance(self.hass).async_add_executor_job(
            history.get_significant_states,
            self.hass,
            start,
            now,
            list(dict.fromkeys([*entities, *load_entities, *car_entities])),
        )
        grid = _resampled(_watts(states.get(grid_entity, [])), start, now)
        pv = (
            _resampled(_watts(states.get(pv_entity, [])), start, now)
            if pv_entity
            else {}
        )
        # The base is the site without the loads and the cars, as the live
        # steps learn it: each load's power sensor, else its switch or
        # number says what it drew; each car its wallbox manager's sensor.
        drawn = [
            _resampled(
                _watts(states.get(load.power_entity, []))
                if load.power_entity
                else commanded_history(load, states.get(load.entity_id, [])),
                start,
                now,
            )
            for load in self.loads
        ] + [
            _resampled(_watts(states.get(entity, [])), start, now)
            for entity in car_entities
        ]
        for moment, watts in grid.items():
            if watts is None or (pv_entity and pv.get(moment) is None):
                continue
            pv_w = pv.get(moment) or 0.0
            loads_w = sum(max(load.get(moment) or 0.0, 0.0) for load in drawn)
            self.load_history.add(moment, watts - loads_w + pv_w)
            self.pv_history.add(moment, pv_w if pv_entity else None)

    def _forecast(self, start: datetime, steps: int) -> list[float] | None:
        """Return the site's net load without the loads per plan step (W)."""
        if self.tariff is None:
            return None
        load = forecast(self.load_history, start, steps, upper_share=0.0)
        if load is None:
            return None
        if self.pv_series:
            known = pv_override(start, PLAN_STEP, self.pv_series)
            first = int(start.timestamp() // PLAN_STEP.total_seconds())
            pv = forecast(
                self.pv_history, start, steps, upper_share=0.0, override=known
            ) or [known.get(first + index, 0.0) for index in range(steps)]
        else:
            pv = (
                forecast(self.pv_history, start, steps, upper_share=0.0)
                or [0.0] * steps
            )
        return [a - b for a, b in zip(load, pv, strict=True)]

    @override
    async def _async_update_data(self) -> FlexibleLoadsStatus:
        """Run one step and switch the loads."""
        now = dt_util.utcnow()
        await self._async_read_prices(now)
        await self._async_read_pv_forecast(now)
        grid_w = self._read_grid(now)
        self._end_boosts(now)
        last_step, self._last_step = self._last_step, now
        if grid_w is not None and last_step is not None:
            if self.tariff is None:
                self.cost.lose(now.astimezone(self.timezone).date())
            else:
                hours = (now - last_step) / timedelta(hours=1)
                self.cost.add(self.tariff, last_step, grid_w * hours, self.timezone)
        if not self.running or grid_w is None:
            # Nothing booked for a time not watched.
            self.controller.last_tick = None
            async_post_loads_plan(self.hass, self.config_entry.entry_id, None)
            async_post_controllable_load(self.hass, self.config_entry.entry_id, None)
            async_withdraw_headroom(self.hass, self.config_entry.entry_id)
            self._battery_part = None
            return self._status(now, grid_w, None)
        battery = self._battery_to_plan(now)
        load_w = {load.load.name: self._read_load(load, now) for load in self.loads}
        measured = {name: watts for name, watts in load_w.items() if watts is not None}
        pv_w = read_input(
            self.hass,
            self.config_entry.data.get(CONF_PV_POWER_ENTITY),
            InputQuantity.POWER,
            now,
        )
        # The battery planned is the plan's, not the base's.
        battery_w = (battery.power_w or 0.0) if battery is not None else 0.0
        loads_w = sum(
            measured.get(load.load.name, self.controller.books[load.load.name].power_w)
            for load in self.loads
        )
        async_post_controllable_load(
            self.hass,
            self.config_entry.entry_id,
            ControllableLoad(at=now, source=self.name, power_w=loads_w),
        )
        # A wallbox manager's deadline session: the plan places it, so the
        # forecast of the site leaves the car out.
        cars = async_plannable_cars(self.hass, now)
        base = grid_w - battery_w - loads_w - sum(car.power_w for car in cars)
        self.load_history.add(now, base + (pv_w or 0.0))
        self.pv_history.add(now, pv_w)
        before = {key: book.power_w for key, book in self.controller.books.items()}
        headroom = async_site_headroom(self.hass, now, self.config_entry.entry_id)
        measurement = Measurement(
            grid_w,
            measured,
            battery_w,
            battery.energy_wh if battery is not None else None,
        )
        result = await self.hass.async_add_executor_job(
            partial(
                self.controller.run,
                now,
                measurement,
                headroom_w=headroom.grid_w if headroom else None,
                safety_w=_safety_room(headroom),
                sessions=[
                    Session(
                        car.entry_id,
                        car.need_wh,
                        car.departs,
                        car.max_power_w,
                        car.power_w,
                    )
                    for car in cars
                ],
            )
        )
        self._post_peak_room(now, measurement, headroom)
        rise = sum(
            max(decision.power_w - before[load.load.name], 0.0)
            for load, decision in zip(self.loads, result.decisions, strict=True)
        )
        # A load's phase is not known: its whole rise may be on the busiest.
        async_take_headroom(
            self.hass,
            TakenHeadroom(
                at=now, taker=self.config_entry.entry_id, grid_w=rise, phase_w=rise
            ),
        )
        for load, decision in zip(self.loads, result.decisions, strict=True):
            await self._async_set_load(
                load,
                decision.power_w,
                now,
                Why(layer=layer_of(decision.reason), reason=decision.reason),
            )
            if (before[load.load.name] > 0) != decision.is_on:
                self._fire_switched(load, decision.power_w, decision.reason)
        self._post_battery_plan(now, battery, result)
        self.schedule_save()
        return self._status(now, grid_w, result.projection, result.decisions)

    def _battery_to_plan(self, now: datetime) -> PlannableBattery | None:
        """Return the battery to plan with the loads now, and set the controller's.

        The one battery manager's fresh post, where the option is on; with
        two, which is the plan's would be a guess: none. A battery that
        comes, goes or changes its limits is planned again at once.
        """
        wanted = self.config_entry.options.get(CONF_PLAN_BATTERY, True)
        posts = async_plannable_batteries(self.hass, now) if wanted else []
        if len(posts) > 1 and self._batteries_seen <= 1:
            LOGGER.warning(
                "%s: %d battery managers on the site; the plan covers none of"
                " their batteries",
                self.name,
                len(posts),
            )
        self._batteries_seen = len(posts)
        battery = posts[0] if len(posts) == 1 else None
        if battery is not None:
            battery = self._unless_planned_by_another(now, battery)
        self.battery = battery
        spec = None
        if battery is not None:
            # A battery outside its limits now may stay there: the plan holds.
            spec = BatterySpec(
                capacity_wh=max(battery.ceiling_wh, battery.energy_wh),
                power_w=battery.discharge_w,
                reserve_wh=min(battery.floor_wh, battery.energy_wh),
                efficiency=math.sqrt(battery.round_trip_efficiency),
                charge_w=battery.charge_w,
            )
        # In whole points of SOC: a peak reserve that moves each step by a
        # tenth does not make a new plan each step.
        limits = (
            None
            if battery is None
            else (
                battery.entry_id,
                round(100 * battery.floor_wh / battery.capacity_wh),
                round(100 * battery.ceiling_wh / battery.capacity_wh),
                round(battery.charge_w),
                round(battery.discharge_w),
                battery.round_trip_efficiency,
            )
        )
        if limits != self._battery_limits:
            self._battery_limits = limits
            self.controller.plan = None
        self.controller.battery = spec
        return battery

    def _unless_planned_by_another(
        self, now: datetime, battery: PlannableBattery
    ) -> PlannableBattery | None:
        """Return ``battery``, or None where another loads entry's plan of it counts."""
        own = self.config_entry.entry_id
        planner = async_battery_planned_by(self.hass, now, battery.entry_id)
        if planner is None or planner >= own:
            self._battery_taken_by = None
            return battery
        if planner != self._battery_taken_by:
            LOGGER.warning(
                "%s: %s is planned by another flexible loads entry; this plan"
                " leaves it out",
                self.name,
                battery.source,
            )
        self._battery_taken_by = planner
        return None

    def _post_battery_plan(
        self, now: datetime, battery: PlannableBattery | None, result: TickResult
    ) -> None:
        """Post the battery's part of the plan for its manager (or take it away)."""
        plan, tariff = self.controller.plan, self.tariff
        if battery is None or plan is None or tariff is None:
            self._battery_part = None
            async_post_loads_plan(self.hass, self.config_entry.entry_id, None)
            return
        if self._battery_part is None or self._battery_part[0] is not plan:
            # A new plan, made this step from the energy posted now.
            imports, _ = tariff.prices(plan.start, plan.step, len(plan.grid_w))
            self._battery_part = (
                plan,
                battery_part(
                    plan,
                    imports,
                    battery.energy_wh,
                    battery.capacity_wh,
                    efficiency=math.sqrt(battery.round_trip_efficiency),
                    made_at=now,
                ),
            )
        async_post_loads_plan(
            self.hass,
            self.config_entry.entry_id,
            LoadsBatteryPlan(
                at=now,
                entry_id=self.config_entry.entry_id,
                source=self.config_entry.title,
                battery=battery.entry_id,
                plan=self._battery_part[1],
                grid_target_w=result.grid_target_w,
            ),
        )

    def _status(
        self,
        now: datetime,
        grid_w: float | None,
        projection: Projection | None,
        decisions: Sequence[LoadDecision] = (),
    ) -> FlexibleLoadsStatus:
        """Return the step's figures for the entities."""
        reasons = {decision.name: decision.reason.value for decision in decisions}
        controller = self.controller
        plan = controller.plan
        loads = {}
        for load in self.loads:
            book = controller.books[load.load.name]
            reason = reasons.get(load.load.name)
            if not self.running:
                reason = STOPPED
            planned = plan.loads.get(load.load.name) if plan is not None else None
            loads[load.subentry_id] = LoadStatus(
                title=load.title,
                entity_id=load.entity_id,
                reason=reason,
                power_w=book.power_w,
                delivered_today_wh=book.delivered_today_wh,
                need_wh=controller.need_wh(load.load),
                remaining_wh=controller.remaining_wh(load.load, now),
                boost_until=self.boost_until.get(load.load.name)
                if book.boost
                else None,
                plan=[
                    (plan.start + index * plan.step, watts)
                    for index, watts in enumerate(planned.power_w)
                ]
                if plan is not None and planned is not None
                else [],
            )
        return FlexibleLoadsStatus(
            running=self.running,
            grid_w=grid_w,
            period_so_far_wh=projection.so_far_wh if projection else None,
            period_projected_wh=projection.projected_wh if projection else None,
            period_end=projection.period_end if projection else None,
            cost_today=self.cost.today(self.tariff, now, self.timezone)
            if self.tariff is not None
            else None,
            price_problem=self.price_problem,
            plan_start=plan.start if plan is not None else None,
            plan_cost=plan.cost if plan is not None else None,
            loads=loads,
            planned_battery=self.battery.source
            if self.battery is not None and self._battery_part is not None
            else None,
            billed_peak_w=None
            if controller.demand_meter is None
            else round(controller.billed_peak_w(now), 1),
            cars={}
            if plan is None
            else {
                entry_id: [
                    (plan.start + index * plan.step, watts)
                    for index, watts in enumerate(powers)
                ]
                for entry_id, powers in plan.sessions.items()
            },
        )

    async def _async_read_prices(self, now: datetime) -> None:
        """Read the price entities; without prices, no plan and no cost (never a guess)."""
        imports, exports = self.fixed
        problems = []
        sources: dict[str, PriceSource] = {}
        for key, reader in self.readers.items():
            try:
                series = await reader.async_read(now)
            except PriceSourceError as err:
                problems.append(f"{reader.entity_id}: {err}")
                continue
            if series.at(now) is None:
                problems.append(f"{reader.entity_id}: no price for {now.isoformat()}")
            else:
                sources[key] = series
        problem = "; ".join(problems) or None
        if problem != self.price_problem:
            if problem:
                LOGGER.warning("%s: prices cannot be read: %s", self.name, problem)
            else:
                LOGGER.info("%s: prices can be read again", self.name)
        self.price_problem = problem
        if problem:
            self.tariff = None
            self.controller.plan = None
            return
        self.tariff = Tariff(
            sources.get(CONF_IMPORT_PRICE_ENTITY, imports),
            sources.get(CONF_EXPORT_PRICE_ENTITY, exports),
            self.netting,
            **self.demand,
        )
        self.controller.tariff = self.tariff

    async def _async_read_pv_forecast(self, now: datetime) -> None:
        """Take the PV forecast of the sensor, or of the service every quarter hour."""
        data = self.config_entry.data
        if entity := data.get(CONF_PV_FORECAST_ENTITY):
            self.pv_series = solcast_series(self.hass.states.get(entity))
        elif (entry_id := data.get(CONF_PV_FORECAST_ENTRY)) and (
            self._pv_read_at is None or now - self._pv_read_at >= PV_SERVICE_EVERY
        ):
            self._pv_read_at = now
            self.pv_series = await async_service_series(self.hass, entry_id)

    def _read_grid(self, now: datetime) -> float | None:
        """Return the grid power (W, + import), from the meter or its counters."""
        data = self.config_entry.data
        if entity := data.get(CONF_GRID_POWER_ENTITY):
            return read_input(self.hass, entity, InputQuantity.POWER, now)
        imported = _kwh(self.hass.states.get(data[CONF_GRID_IMPORT_ENERGY_ENTITY]), now)
        exported = _kwh(self.hass.states.get(data[CONF_GRID_EXPORT_ENERGY_ENTITY]), now)
        if imported is None or exported is None:
            self._counters, self._counter_w = None, None
            return None
        last = self._counters
        if last is None or imported < last[1] or exported < last[2]:
            # The first reading, or a counter reset: a power needs two.
            self._counters, self._counter_w = (now, imported, exported), None
            return None
        if (imported, exported) != last[1:]:
            # Counters move in steps: the mean power between two of their
            # changes holds until the next one.
            change_kwh = (imported - last[1]) - (exported - last[2])
            self._counter_w = change_kwh * 1000 / ((now - last[0]) / timedelta(hours=1))
            self._counters = (now, imported, exported)
        return self._counter_w

    def _post_peak_room(
        self, now: datetime, measured: Measurement, headroom: SiteHeadroom | None
    ) -> None:
        """Post the room the plan leaves under its billed peak, where no peak shaver does.

        With a demand charge in the tariff the plan holds a billed peak; a
        wallbox manager in ``deadline`` mode then charges in the room it
        leaves (now, and per plan step ahead), as under peak shaving's. A
        peak shaver's post (``headroom``, this entry's own left out) wins:
        it holds the level with the battery.
        """
        room_now, ahead = (
            (None, None)
            if headroom is not None
            else self.controller.peak_room(now, measured)
        )
        if room_now is None:
            async_withdraw_headroom(self.hass, self.config_entry.entry_id)
            return
        async_post_headroom(
            self.hass,
            self.config_entry.entry_id,
            SiteHeadroom(
                at=now,
                source=self.name,
                grid_w=room_now,
                phase_w=None,
                ahead=ahead,
            ),
        )

    def _read_load(self, load: EntryLoad, now: datetime) -> float | None:
        """Return a load's power: measured, or what its switch or number says."""
        if load.power_entity:
            return read_input(self.hass, load.power_entity, InputQuantity.POWER, now)
        state = self.hass.states.get(load.entity_id)
        return None if state is None else commanded_w(load, state)

    async def _async_set_load(
        self, load: EntryLoad, power_w: float, now: datetime, why: Why
    ) -> None:
        """Write a load's switch, or its number in its own unit, for ``why``."""
        if load.load.control is LoadControl.SWITCH:
            await self.writer.async_write(
                load.entity_id, power_w > 0, now, lapses=False, why=why
            )
            return
        state = self.hass.states.get(load.entity_id)
        factor = watts_per_unit(state, load.watts_per_amp) if state else 1.0
        await self.writer.async_write(
            load.entity_id, round(power_w / factor, 1), now, lapses=False, why=why
        )

    def _fire_switched(
        self, load: EntryLoad, power_w: float, reason: LoadReason
    ) -> None:
        """Tell the logbook a load went on or off, and why."""
        self.hass.bus.async_fire(
            EVENT_LOAD_SWITCHED,
            {
                "entry_id": self.config_entry.entry_id,
                "entity_id": load.entity_id,
                "name": load.title,
                "state": "on" if power_w > 0 else "off",
                "power": round(power_w),
                "reason": reason.value,
            },
        )

    def load_named(self, entity_id: str) -> EntryLoad:
        """Return the load whose entity is ``entity_id`` (ServiceValidationError if none)."""
        for load in self.loads:
            if load.entity_id == entity_id:
                return load
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_a_load",
            translation_placeholders={"entity_id": entity_id, "entry": self.name},
        )

    def _open_window(self, load: EntryLoad, now: datetime) -> None:
        """Refuse a request for a load that is stopped or outside its window."""
        if not self.running:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="flexible_loads_stopped",
                translation_placeholders={"entry": self.name},
            )
        if load.load.window_at(now, self.timezone) is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="load_window_closed",
                translation_placeholders={"name": load.title},
            )

    async def async_boost(self, entity_id: str, duration: timedelta) -> None:
        """Run a load now for ``duration`` (its need raised as far as that takes)."""
        load = self.load_named(entity_id)
        now = dt_util.utcnow()
        self._open_window(load, now)
        book = self.controller.books[load.load.name]
        window = load.load.window_at(now, self.timezone)
        assert window is not None
        run = min(duration, window[1] - now)
        book.need_override_wh = max(
            self.controller.need_wh(load.load),
            book.delivered_wh + load.load.power_w * (run / timedelta(hours=1)),
        )
        book.boost = True
        self.boost_until[load.load.name] = now + run
        await self.async_refresh()

    def _end_boosts(self, now: datetime) -> None:
        """End the boosts whose time is up; the plan takes the loads back."""
        for name, until in list(self.boost_until.items()):
            book = self.controller.books[name]
            if now >= until or not book.boost:
                book.boost = False
                del self.boost_until[name]

    async def async_set_need(self, entity_id: str, energy_wh: float) -> None:
        """Set a load's need for its window open now (today's)."""
        load = self.load_named(entity_id)
        now = dt_util.utcnow()
        self._open_window(load, now)
        fits = load.load.power_w * (load.load.window_length / timedelta(hours=1))
        if energy_wh > fits:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="load_need_too_large",
                translation_placeholders={
                    "name": load.title,
                    "fits": f"{fits / 1000:.10g}",
                },
            )
        self.controller.books[load.load.name].need_override_wh = energy_wh
        self.controller.plan = None  # Plan again for it at once.
        await self.async_refresh()

    async def async_start(self) -> None:
        """Start steering the loads, then step at once."""
        self.running = True
        await self.async_refresh()

    async def async_stop(self) -> None:
        """Stop steering: the loads go to the safe state, then step at once."""
        self.running = False
        await self._async_safe_state()
        await self.async_refresh()

    async def _async_safe_state(self) -> None:
        """Switch the loads off, unless the entry leaves them as they are."""
        if self.config_entry.options.get(CONF_SAFE_STATE, SAFE_STATE_OFF) != (
            SAFE_STATE_OFF
        ):
            return
        now = dt_util.utcnow()
        for load in self.loads:
            await self._async_set_load(load, 0.0, now, TO_SAFE_STATE)
            book = self.controller.books[load.load.name]
            if book.power_w > 0:
                book.power_w, book.switched_at = 0.0, now

    @override
    async def async_stop_steering(self) -> None:
        """Leave the loads in the safe state and write the state."""
        async_post_loads_plan(self.hass, self.config_entry.entry_id, None)
        async_post_controllable_load(self.hass, self.config_entry.entry_id, None)
        async_withdraw_headroom(self.hass, self.config_entry.entry_id)
        try:
            await self._async_safe_state()
        finally:
            await self.async_save_now()


def _resampled(
    values: Sequence[tuple[datetime, float]], start: datetime, end: datetime
) -> dict[datetime, float | None]:
    """Return a history's value every SEED_SAMPLE, each holding until the next."""
    samples: dict[datetime, float | None] = {}
    index, current = 0, None
    moment = start
    while moment < end:
        while index < len(values) and values[index][0] <= moment:
            current = values[index][1]
            index += 1
        samples[moment] = current
        moment += SEED_SAMPLE
    return samples


def _kwh(state: State | None, now: datetime) -> float | None:
    """Return an energy counter in kWh, None when it cannot be trusted."""
    if state is None or now - state.last_reported > MAX_INPUT_AGE:
        return None
    try:
        value = float(state.state)
        unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
        return EnergyConverter.convert(value, unit, UnitOfEnergy.KILO_WATT_HOUR)
    except ValueError, HomeAssistantError:
        return None


def _watts(states: Sequence[State | dict[str, Any]]) -> list[tuple[datetime, float]]:
    """Return a recorder history of a power sensor in W, unreadable states left out."""
    values = []
    for state in states:
        if not isinstance(state, State):
            continue
        try:
            unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT, "W")
            values.append(
                (
                    state.last_changed.astimezone(UTC),
                    PowerConverter.convert(float(state.state), unit, "W"),
                )
            )
        except ValueError, HomeAssistantError:
            continue
    return values


@dataclass(kw_only=True)
class FlexibleLoadsRuntimeData:
    """Runtime data of a flexible loads entry."""

    coordinator: FlexibleLoadsCoordinator
    device_info: DeviceInfo
    # The controller's device, which each load's device is reached through.
    device_id: str


def _safety_room(headroom: SiteHeadroom | None) -> float | None:
    """Return the room under the busiest phase's fuse and the connection's limit.

    A load's phase is not known: its whole rise may land on the busiest
    phase. None where peak shaving posts neither.
    """
    if headroom is None:
        return None
    rooms = [
        room for room in (headroom.phase_w, headroom.connection_w) if room is not None
    ]
    return min(rooms) if rooms else None
