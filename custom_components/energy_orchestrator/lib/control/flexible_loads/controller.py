"""``FlexibleLoadsController``: plan and real-time layer together, as Home Assistant runs them.

Each tick it is given what the meter and the loads did since the last one;
it books the energy (the netting period's net, each load's energy in its
open window), plans again at every plan step (or when it has no plan), and
decides each load's power with the real-time layer and, with a battery, the
grid power the battery is to hold: the power that brings the period to the
plan's net for it (the plan's grid power without netting), never below 0
(a planned export is a forecast surplus that may not come) nor, with a
demand charge, above the peak the plan bills (its interval meter, peak
shaving's, keeps the billing period's peak so far).

The battery holds that grid power only where it pays (``BatteryOrder``):
a forecast miss that would make it discharge more (or charge less) than
the plan is covered only where the grid price it avoids beats what the
stored energy is worth to the plan (the dual of its energy balance, through
the efficiency), and a surplus the plan did not see is stored only where
the price it forgoes is below that worth; otherwise the battery runs at the
plan's power and the miss goes to the grid. It never lets the import pass
the billed peak. With a demand charge and no headroom given, the loads get
their room under that peak from the meter (and the battery's spare power):
the real-time layer starts them one at a time within it and sheds them
when the import passes it. ``eo backtest-site`` drives it with a forecast
from the past only.

A charging session given with the tick (a car's need and departure,
``Session``) goes into the plan, which places it to plan the battery and
the billed peak with it; the car's charger still decides its power, and
the battery's grid power follows what the car takes rather than the plan's
guess of it.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
import logging

from ..billing import IntervalMeter, billing_period_key
from ..ev_deadline import RoomAhead
from ..peak_shaving.limiter import interval_budget_w
from .loads import FlexibleLoad
from .milp import SolveError
from .netting import LoadDecision, LoadLive, LoadReason, Projection, decide, project
from .planner import (
    HORIZON,
    STEP,
    BatteryNow,
    LoadNow,
    Plan,
    PlanRequest,
    Session,
    plan,
)
from .safety import hold_within_safety
from .tariff import Tariff

_LOGGER = logging.getLogger(__name__)

# Above its reserve by less than this (Wh), the battery gives the loads no room.
_BATTERY_SPARE_WH = 100.0
# A planned battery power within this of 0 (W) is idle.
_BATTERY_IDLE_W = 50.0

# Load minus PV per plan step from ``start`` on, None when there is no forecast.
type BaseForecast = Callable[[datetime, int], Sequence[float] | None]
# Other forecasts of the same (each past day's), for a plan with a battery
# to weigh; fewer than two, and the plan is made on ``BaseForecast`` alone.
type BaseScenarios = Callable[[datetime, int], Sequence[Sequence[float]]]


@dataclass(frozen=True)
class BatterySpec:
    """A battery the controller may use."""

    capacity_wh: float
    power_w: float
    reserve_wh: float = 0.0
    efficiency: float = 0.95
    # Its charging power where it differs from ``power_w`` (then its discharge).
    charge_w: float | None = None


@dataclass(frozen=True)
class Measurement:
    """What happened since the last tick: mean powers (W) and the battery now."""

    grid_w: float
    load_w: dict[str, float]
    battery_w: float = 0.0
    battery_energy_wh: float | None = None


@dataclass
class LoadBook:
    """What the controller keeps per load (and a restart must keep)."""

    window_opens: datetime | None = None
    delivered_wh: float = 0.0
    delivered_today_wh: float = 0.0
    power_w: float = 0.0
    switched_at: datetime | None = None
    starts: int = 0
    boost: bool = False
    # A need for today that replaces the configured one (None: configured).
    need_override_wh: float | None = None


@dataclass(frozen=True)
class BatteryOrder:
    """What the battery is to do until the next tick (see the module doc)."""

    grid_target_w: float
    # The plan's battery power now (W, charging positive).
    planned_w: float
    # Below the plan (more discharge, less charge) to hold the target.
    cover_import: bool = True
    # Above the plan (more charge, less discharge) to hold the target.
    take_surplus: bool = True
    # The grid power it holds the import under whatever the worth (W).
    ceiling_w: float | None = None

    def battery_w(self, site_w: float) -> float:
        """Return the battery's power given the site's power without it."""
        holding = self.grid_target_w - site_w
        power = self.planned_w
        if (holding < power and self.cover_import) or (
            holding > power and self.take_surplus
        ):
            power = holding
        if self.ceiling_w is not None and site_w + power > self.ceiling_w:
            power = self.ceiling_w - site_w
        return power


@dataclass(frozen=True)
class TickResult:
    """A tick's decisions, the grid power for the battery to hold, the period's figures."""

    decisions: list[LoadDecision]
    # None without a battery (or a plan).
    grid_target_w: float | None
    projection: Projection
    # How the battery holds it (None without a battery or a plan).
    battery: BatteryOrder | None = None


@dataclass
class FlexibleLoadsController:
    """Plans the loads and runs the real-time layer (see the module doc)."""

    tariff: Tariff
    loads: Sequence[FlexibleLoad]
    forecast: BaseForecast
    battery: BatterySpec | None = None
    timezone: tzinfo = UTC
    tick: timedelta = timedelta(minutes=1)
    horizon: timedelta = HORIZON
    step: timedelta = STEP
    books: dict[str, LoadBook] = field(default_factory=dict)
    plan: Plan | None = None
    period_start: datetime | None = None
    period_so_far_wh: float = 0.0
    last_tick: datetime | None = None
    # With a demand charge: the billed quantity (None without one).
    demand_meter: IntervalMeter | None = None
    # With a battery: the net load's scenarios the plan weighs (None: the
    # forecast alone).
    scenarios: BaseScenarios | None = None
    # The charging sessions the last tick was given (placed by the plan).
    sessions: Sequence[Session] = ()
    # The plan's prices the battery's order reads, kept per plan.
    _priced_plan: Plan | None = field(default=None, init=False, repr=False)
    _dearest: list[float] = field(default_factory=list, init=False, repr=False)
    _cheapest: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        """Start a book for every load, and the interval meter for a demand charge."""
        for load in self.loads:
            self.books.setdefault(load.name, LoadBook())
        if self.demand_meter is None and self.tariff.demand_charge_per_kw > 0:
            self.demand_meter = IntervalMeter(
                self.tariff.billing_interval.total_seconds(),
                self.tariff.billing_period,
                self.timezone,
            )

    def billed_peak_w(self, now: datetime) -> float:
        """Return the billing period's peak so far (0 without a demand charge)."""
        meter = self.demand_meter
        if meter is None:
            return 0.0
        key = billing_period_key(now, self.tariff.billing_period, self.timezone)
        # The meter starts a new period's peak when its first interval closes.
        return meter.billed_peak_w if meter.period_key == key else 0.0

    def need_wh(self, load: FlexibleLoad) -> float:
        """Return the load's need in its window (the override for today where set)."""
        override = self.books[load.name].need_override_wh
        return load.energy_wh_per_day if override is None else override

    def remaining_wh(self, load: FlexibleLoad, now: datetime) -> float:
        """Return the energy the load still needs in its open window (0 when closed)."""
        if load.window_at(now, self.timezone) is None:
            return 0.0
        return max(0.0, self.need_wh(load) - self.books[load.name].delivered_wh)

    def run(
        self,
        now: datetime,
        measured: Measurement,
        *,
        headroom_w: float | None = None,
        safety_w: float | None = None,
        sessions: Sequence[Session] | None = None,
    ) -> TickResult:
        """Book the last tick, plan when due, and decide the next tick.

        ``headroom_w`` is the room peak shaving leaves under the billed peak
        (None: none known); the loads raise their import within it.
        ``safety_w`` the room under the fuses and the grid connection's
        limit: nothing raises the import past it (``hold_within_safety``).
        ``sessions`` are the charging sessions open now (None: as last
        given); the plan places them.
        """
        if sessions is not None:
            self.sessions = tuple(sessions)
        self._book(now, measured)
        if self.plan is None or self._plan_due(now):
            self._plan(now, measured)
        period_end = self._period_end(now)
        projection = project(now, period_end, self.period_so_far_wh, measured.grid_w)
        lives = [self._live(load, now) for load in self.loads]
        own = headroom_w is None and self.demand_meter is not None
        if own:
            headroom_w = self._peak_headroom_w(now, measured)
        decisions = decide(
            now,
            projection,
            lives,
            self.plan,
            self.tick,
            headroom_w=headroom_w,
            # The room is the meter's estimate: a need comes before it.
            needs_wait=not own,
        )
        if safety_w is not None:
            decisions = hold_within_safety(decisions, lives, safety_w)
        for decision, live in zip(decisions, lives, strict=True):
            book = self.books[decision.name]
            if (decision.power_w > 0) != (live.power_w > 0):
                book.switched_at = now
                book.starts += decision.power_w > 0
            book.power_w = decision.power_w
            # A boost the fuses hold back waits for room; it is not dropped.
            waits = decision.reason is LoadReason.GRID_LIMIT
            if (decision.power_w <= 0 and not waits) or live.remaining_wh <= 0:
                book.boost = False
        target = self._grid_target_w(now, period_end)
        return TickResult(
            decisions,
            target,
            projection,
            self._battery_order(now, measured, period_end, target),
        )

    def peak_room(
        self, now: datetime, measured: Measurement
    ) -> tuple[float | None, RoomAhead | None]:
        """Return the room the plan leaves under its billed peak, now and ahead.

        What peak shaving would post for a car where there is none (the
        demand charge is the loads' tariff's): now, the billing interval's
        budget at the plan's level (the higher of its billed peak and the
        period's so far, as peak shaving holds its plan's) less the site's
        import before the battery; ahead, per plan step, the level less the
        plan's import before the battery and without the sessions it
        places (their room is what the plan leaves them). None for each
        without a demand charge or a plan.
        """
        plan, meter, level = self.plan, self.demand_meter, self._ceiling_w(now)
        if plan is None or meter is None or level is None:
            return None, None
        now_w = interval_budget_w(meter, now, level) - (
            measured.grid_w - measured.battery_w
        )
        sessions = [sum(powers) for powers in zip(*plan.sessions.values(), strict=True)]
        nets = [
            grid - battery - (sessions[index] if sessions else 0.0)
            for index, (grid, battery) in enumerate(
                zip(plan.grid_w, plan.battery_w, strict=True)
            )
        ]
        return now_w, RoomAhead(plan.start, plan.step, tuple(level - n for n in nets))

    def _ceiling_w(self, now: datetime) -> float | None:
        """Return the import the billed peak allows (None without a demand charge or plan)."""
        if self.demand_meter is None or self.plan is None:
            return None
        return max(self.plan.billed_peak_w, self.billed_peak_w(now))

    def _peak_headroom_w(self, now: datetime, measured: Measurement) -> float | None:
        """Return the room under the billed peak: the meter's, and the battery's spare power."""
        ceiling = self._ceiling_w(now)
        if ceiling is None:
            return None
        spare = 0.0
        spec, energy = self.battery, measured.battery_energy_wh
        if spec is not None and energy is not None:
            # Above its reserve the battery can cover what the loads add.
            above = energy > spec.reserve_wh + _BATTERY_SPARE_WH
            spare = max(spec.power_w + measured.battery_w, 0.0) if above else 0.0
        return ceiling - measured.grid_w + spare

    def _battery_order(
        self,
        now: datetime,
        measured: Measurement,
        period_end: datetime,
        target: float | None,
    ) -> BatteryOrder | None:
        """Return how the battery holds the target: where covering a miss pays."""
        if target is None or self.plan is None or self.battery is None:
            return None
        ceiling = self._ceiling_w(now)
        slot = self.plan.at(now)
        if slot is None or not self.plan.stored_value:
            return BatteryOrder(target, 0.0, ceiling_w=ceiling)
        planned = self.plan.battery_w[slot]
        worth = self.plan.stored_value[slot]
        efficiency = self.battery.efficiency
        hours = max(
            (period_end - now) / timedelta(hours=1), self.tick / timedelta(hours=1)
        )
        site_w = measured.grid_w - measured.battery_w
        # The period's end with the battery at the plan's power: its sign
        # says which price one more kWh through the meter moves.
        projected = self.period_so_far_wh + (site_w + planned) * hours
        imports, exports = self.tariff.prices(
            self.tariff.period_start(now), self.step, 1
        )
        dearest, cheapest = self._plan_prices(slot)
        avoided = imports[0] if projected > 0 else exports[0]
        forgone = exports[0] if projected < 0 else imports[0]
        # What a kWh less through the meter takes from the store (through
        # the efficiency on the side the plan is on), and a kWh more charged
        # gives it.
        spent = worth / efficiency if planned <= 0 else worth * efficiency
        kept = max(worth, cheapest) * efficiency
        # The store's worth is never below what the plan's dearest
        # discharge before its next charge avoids (a miss then costs that)
        # nor below the cheapest import it could later displace. Less
        # discharge than planned is always taken (the plan's timing within
        # the period is arbitrary; exporting stored energy never pays).
        return BatteryOrder(
            target,
            planned,
            cover_import=avoided >= max(spent, dearest),
            take_surplus=planned < 0 or forgone <= kept,
            ceiling_w=ceiling,
        )

    def _plan_prices(self, slot: int) -> tuple[float, float]:
        """Return the plan's dearest import it discharges into from ``slot`` on.

        Up to its next charge; and the cheapest import of the plan.
        """
        assert self.plan is not None
        plan = self.plan
        if self._priced_plan is not plan:
            imports, _ = self.tariff.prices(plan.start, plan.step, len(plan.grid_w))
            dearest = [0.0] * (len(imports) + 1)
            for index in range(len(imports) - 1, -1, -1):
                power = plan.battery_w[index]
                if power > _BATTERY_IDLE_W:
                    dearest[index] = 0.0
                elif power < -_BATTERY_IDLE_W:
                    dearest[index] = max(imports[index], dearest[index + 1])
                else:
                    dearest[index] = dearest[index + 1]
            self._priced_plan = plan
            self._dearest = dearest
            self._cheapest = min(imports, default=0.0)
        return self._dearest[slot], self._cheapest

    def _book(self, now: datetime, measured: Measurement) -> None:
        """Add the energy of the time since the last tick."""
        hours = 0.0
        if self.last_tick is not None:
            hours = max((now - self.last_tick) / timedelta(hours=1), 0.0)
        before = self.last_tick or now
        start = self.tariff.period_start(before)
        if self.period_start != start:
            self.period_start, self.period_so_far_wh = start, 0.0
        self.period_so_far_wh += measured.grid_w * hours
        if self.demand_meter is not None:
            self.demand_meter.add(now, measured.grid_w)
        today = now.astimezone(self.timezone).date()
        for load in self.loads:
            book = self.books[load.name]
            energy = measured.load_w.get(load.name, book.power_w) * hours
            window = load.window_at(before, self.timezone)
            opens = window[0] if window is not None else None
            if opens != book.window_opens:
                book.window_opens, book.delivered_wh = opens, 0.0
            book.delivered_wh += energy
            if before.astimezone(self.timezone).date() != today:
                book.delivered_today_wh = 0.0
            else:
                book.delivered_today_wh += energy
        # The period the next tick falls in.
        if self.tariff.period_start(now) != self.period_start:
            self.period_start = self.tariff.period_start(now)
            self.period_so_far_wh = 0.0
        for load in self.loads:
            window = load.window_at(now, self.timezone)
            opens = window[0] if window is not None else None
            book = self.books[load.name]
            if opens != book.window_opens:
                # A new window: the need set for the last one lapses.
                book.window_opens, book.delivered_wh = opens, 0.0
                book.need_override_wh = None
        self.last_tick = now

    def _plan_due(self, now: datetime) -> bool:
        """Return whether a new plan step began since the plan was made."""
        assert self.plan is not None
        return now - self.plan.start >= self.step

    def _plan(self, now: datetime, measured: Measurement) -> None:
        """Plan from the forecast; keep the old plan when there is none."""
        start = datetime.fromtimestamp(
            now.timestamp() // self.step.total_seconds() * self.step.total_seconds(),
            UTC,
        )
        steps = int(self.horizon / self.step)
        base = self.forecast(start, steps)
        if base is None:
            return
        loads = [
            LoadNow(
                _with_need(load, self.need_wh(load)),
                self.books[load.name].delivered_wh,
                self.books[load.name].power_w > 0,
                now - (self.books[load.name].switched_at or now - timedelta(days=1)),
            )
            for load in self.loads
        ]
        battery = None
        if self.battery is not None and measured.battery_energy_wh is not None:
            spec = self.battery
            battery = BatteryNow(
                spec.capacity_wh,
                spec.power_w,
                measured.battery_energy_wh,
                spec.reserve_wh,
                spec.efficiency,
                spec.charge_w,
            )
        scenarios: Sequence[Sequence[float]] = ()
        if battery is not None and self.scenarios is not None:
            scenarios = self.scenarios(start, steps)
        request = PlanRequest(
            start,
            list(base),
            self.tariff,
            loads,
            battery,
            self.period_so_far_wh,
            self.step,
            self.timezone,
            previous=self.plan,
            billed_peak_w=self.billed_peak_w(now),
            interval_import_so_far_wh=self._interval_import_wh(start),
            scenarios=scenarios,
            sessions=self.sessions,
        )
        try:
            self.plan = plan(request)
        except SolveError as err:
            _LOGGER.warning("No plan for the flexible loads: %s", err)

    def _interval_import_wh(self, start: datetime) -> float:
        """Return what the billing interval running at ``start`` imported so far."""
        meter = self.demand_meter
        if meter is None or meter.interval_start is None:
            return 0.0
        if meter.interval_start > start:
            return 0.0
        return meter.import_wh

    def _period_end(self, now: datetime) -> datetime:
        """Return when the netting period ``now`` falls in ends (a tick without)."""
        netting = self.tariff.netting
        if netting is None:
            return now + self.tick
        return self.tariff.period_start(now) + netting

    def _live(self, load: FlexibleLoad, now: datetime) -> LoadLive:
        """Return the load as the tick finds it."""
        book = self.books[load.name]
        window = load.window_at(now, self.timezone)
        return LoadLive(
            load,
            book.power_w,
            book.switched_at,
            self.remaining_wh(load, now),
            window[1] if window is not None else None,
            book.boost,
        )

    def _grid_target_w(self, now: datetime, period_end: datetime) -> float | None:
        """Return the grid power that brings the period to the plan's net for it."""
        if self.battery is None or self.plan is None:
            return None
        if self.tariff.netting is None:
            slot = self.plan.at(now)
            if slot is None:
                return None
            planned = self.plan.grid_w[slot] + self._session_miss_w(now)
            return self._under_peak(max(planned, 0.0), now)
        target = self.plan.period_target_wh(now)
        if target is None:
            return None
        hours = max(
            (period_end - now) / timedelta(hours=1), self.tick / timedelta(hours=1)
        )
        # Never a planned export: where the forecast's surplus does not come,
        # the battery would sell its energy at the export price to meet it.
        holding = (target - self.period_so_far_wh) / hours + self._session_miss_w(now)
        return self._under_peak(max(holding, 0.0), now)

    def _session_miss_w(self, now: datetime) -> float:
        """Return what the sessions take now above the plan's guess of it (W).

        The battery holds the plan's grid with what the car really takes:
        where the car waits, the battery does not take its planned room.
        """
        if self.plan is None or not self.plan.sessions:
            return 0.0
        taking = sum(session.charging_w for session in self.sessions)
        return taking - self.plan.session_w(now)

    def _under_peak(self, target_w: float, now: datetime) -> float:
        """Return the grid power held no higher than the peak the plan bills."""
        if self.demand_meter is None or self.plan is None:
            return target_w
        return min(target_w, max(self.plan.billed_peak_w, self.billed_peak_w(now)))


def _with_need(load: FlexibleLoad, need_wh: float) -> FlexibleLoad:
    """Return the load with another daily need (an override for today)."""
    if need_wh == load.energy_wh_per_day:
        return load
    fits = load.power_w * load.window_length / timedelta(hours=1)
    return replace(load, energy_wh_per_day=min(need_wh, fits))
