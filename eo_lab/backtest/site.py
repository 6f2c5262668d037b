"""``eo backtest-site``: the site's flexible loads replayed on a measured profile.

The loads of SITE.json run on top of the measured load, every strategy on
the same 5-minute grid, each seeing the meter at the start of a step and
setting the loads for it (a battery, where there is one, holds a grid
power with its own fast loop: 0 W, self-consumption, unless the strategy
says otherwise):

- ``none``: each load runs from its window's start until its need is met;
- ``instant``: seed 003's rule: a load goes on when the export exceeds its
  power and off when the site imports (an adjustable one follows the
  export), within its minimum on and off times; whatever need is left runs
  at the end of its window;
- ``orchestrator``: ``FlexibleLoadsController``, the code Home Assistant
  runs, planning every 15 minutes from forecasts of the past days only
  (on a site with a battery and no loads, the battery manager's price
  plan, ``site_battery``);
- ``optimal``: perfect foresight, solved exactly, the lower bound no
  controller beats: a mixed-integer program over the scored days on the
  replay's own grid, in which a switched load is on or off in each step
  (at full power until its window's need is met, less in the step that
  meets it, nothing after: its thermostat stops it), keeps its minimum on
  and off times and, uninterrupted, runs once per window until its need is
  met; an adjustable one takes any power up to its own; the battery takes
  any power within its limits in each netting period (cut at billing
  intervals), its energy checked at their ends. Proven within a tenth of a
  cent, or, after ``OPTIMAL_TIME_LIMIT_S``, the lowest cost HiGHS proved
  possible stands for it (``proven`` false): a bound still;
- ``foresight`` (on request): the orchestrator given the real future as
  its forecast.
- ``independent``: today's controllers side by side, uncoordinated: the
  loads by ``instant``'s rule, the battery in self-consumption, the car by
  the wallbox manager's ``deadline`` mode without site caps.

A car (``site_car``) is one more load, ``car``: ``none`` and ``instant``
charge it at full power from arrival, ``optimal`` as an adjustable load,
``independent`` and ``orchestrator`` by the wallbox manager in
``deadline`` mode (``DeadlineCharger``): ``independent`` without site
caps, ``orchestrator`` with the caps peak shaving would post
(``_site_room``).

With a demand charge, each strategy's ``cost`` is its ``energy_cost`` plus
its ``demand_cost``: the charge per kW of each billing period's peak
(``peak_import_w``, the highest average import over a billing interval;
``optimal`` bills its intervals' net import, never more).

A battery that ends emptier than it began (half full) is charged for the
difference at the cheapest import price through its charging losses, one
that ends fuller is credited alike: every strategy's ``cost`` includes it
(``battery_change_kwh`` says how much).

A load's energy in a step never exceeds what its window still needs (its
own thermostat or timer stops it). The scored window is the whole days (in
the site's time zone) after the profile's first day of history; needs
count the windows that lie wholly in it. Energy balances at every step
(grid = load + loads - PV + battery charge - discharge), checked.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
import math
from typing import Any, Protocol

from custom_components.energy_orchestrator.lib.control.billing import (
    billing_period_key,
    interval_start_of,
)
from custom_components.energy_orchestrator.lib.control.ev_charging import site_caps
from custom_components.energy_orchestrator.lib.control.ev_deadline import RoomAhead
from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    BatteryOrder,
    FlexibleLoad,
    FlexibleLoadsController,
    LoadControl,
    Measurement,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.milp import (
    INFINITY,
    Model,
)
from custom_components.energy_orchestrator.lib.control.forecast import (
    SlotHistory,
    forecast,
)
from custom_components.energy_orchestrator.lib.control.peak_shaving.limiter import (
    interval_budget_w,
)
from eo_lab.backtest.battery import Battery, battery_limits
from eo_lab.backtest.profile import Series, split_warmup
from eo_lab.backtest.site_battery import PricePlanStrategy
from eo_lab.backtest.site_car import (
    CAR,
    VOLTAGE_V,
    CarSeen,
    DeadlineCharger,
    SiteRoom,
    car_solar_w,
)
from eo_lab.backtest.site_config import Site

STRATEGIES = ("none", "instant", "orchestrator", "optimal", "independent")
PLAN_STEP = timedelta(minutes=15)
# ``optimal`` is proven within a tenth of a cent, or after this long, the
# lowest cost HiGHS proved possible stands for it.
OPTIMAL_TIME_LIMIT_S = 120.0
OPTIMAL_REL_GAP = 1e-6
OPTIMAL_ABS_GAP = 1e-3
START_SOC_SHARE = 0.5


@dataclass
class _Window:
    """One window of one load in the scored days, and what it got."""

    load: FlexibleLoad
    opens: datetime
    closes: datetime
    need_wh: float
    delivered_wh: float = 0.0


@dataclass
class _Scored:
    """The scored days: their steps, the loads' windows, the netting periods."""

    series: Series
    first: int
    last: int
    site: Site
    windows: list[_Window] = field(default_factory=list)

    @property
    def step_h(self) -> float:
        """Return a step in hours."""
        return self.series.step / timedelta(hours=1)

    def moment(self, index: int) -> datetime:
        """Return when step ``index`` begins."""
        return self.series.start + index * self.series.step

    def fresh_windows(self) -> list[_Window]:
        """Return the windows with nothing delivered yet."""
        return [_Window(w.load, w.opens, w.closes, w.need_wh) for w in self.windows]


def _scored(series: Series, site: Site) -> _Scored:
    """Return the whole local days after the history, and the windows in them."""
    _, rest = split_warmup(series, timedelta(hours=1))
    first = round((rest.start - series.start) / series.step)
    zone = site.timezone
    begin = rest.start.astimezone(zone)
    midnight = datetime.combine(begin.date(), time(0), zone)
    if midnight < begin:
        midnight = datetime.combine(begin.date() + timedelta(days=1), time(0), zone)
    end = series.start + len(series.load_w) * series.step
    last_midnight = datetime.combine(end.astimezone(zone).date(), time(0), zone)
    start_index = math.ceil((midnight - series.start) / series.step)
    end_index = math.floor((last_midnight - series.start) / series.step)
    if end_index - start_index < round(timedelta(days=1) / series.step):
        raise ValueError("the profile needs a whole day to score after its first day")
    scored = _Scored(series, max(start_index, first), end_index, site)
    begins, ends = scored.moment(scored.first), scored.moment(scored.last)
    for load in site.all_loads:
        for opens, closes in load.windows(begins, ends, zone):
            if opens >= begins and closes <= ends:
                scored.windows.append(
                    _Window(load, opens, closes, load.energy_wh_per_day)
                )
    return scored


@dataclass
class _Tally:
    """One strategy's run: the grid per step, the loads' energy and starts."""

    scored: _Scored
    windows: list[_Window]
    grid_w: list[float] = field(default_factory=list)
    starts: dict[str, int] = field(default_factory=dict)
    energy_wh: dict[str, float] = field(default_factory=dict)
    was_on: dict[str, bool] = field(default_factory=dict)
    car_solar_wh: float = 0.0

    def window(self, load: FlexibleLoad, moment: datetime) -> _Window | None:
        """Return the load's counted window open at ``moment``."""
        for window in self.windows:
            if window.load is load and window.opens <= moment < window.closes:
                return window
        return None

    def remaining_wh(self, load: FlexibleLoad, moment: datetime) -> float:
        """Return what the load's open window still needs (0 when none is open)."""
        window = self.window(load, moment)
        return 0.0 if window is None else max(window.need_wh - window.delivered_wh, 0.0)

    def book(
        self, index: int, powers: dict[str, float], battery_w: float
    ) -> dict[str, float]:
        """Book one step; return the loads' real powers (capped by their needs)."""
        scored, moment = self.scored, self.scored.moment(index)
        step_h = scored.step_h
        real: dict[str, float] = {}
        for load in scored.site.all_loads:
            window = self.window(load, moment)
            wanted = max(powers.get(load.name, 0.0), 0.0)
            if window is None:
                power = 0.0
            else:
                left = max(window.need_wh - window.delivered_wh, 0.0)
                power = min(wanted, load.power_w, left / step_h)
                window.delivered_wh += power * step_h
            real[load.name] = power
            self.energy_wh[load.name] = (
                self.energy_wh.get(load.name, 0.0) + power * step_h
            )
            on = power > 0
            if on and not self.was_on.get(load.name, False):
                self.starts[load.name] = self.starts.get(load.name, 0) + 1
            self.was_on[load.name] = on
        load_w = scored.series.load_w[index] + sum(real.values())
        grid = load_w - scored.series.pv_w[index] + battery_w
        if CAR in real:
            self.car_solar_wh += step_h * car_solar_w(
                scored.series.pv_w[index], load_w - real[CAR], real[CAR]
            )
        charge, discharge = max(battery_w, 0.0), max(-battery_w, 0.0)
        if not math.isclose(
            grid,
            scored.series.load_w[index]
            + sum(real.values())
            - scored.series.pv_w[index]
            + charge
            - discharge,
            abs_tol=1e-6,
        ):
            raise AssertionError("energy does not balance")
        self.grid_w.append(grid)
        return real

    def figures(self, battery_change_wh: float = 0.0) -> dict[str, Any]:
        """Return the strategy's figures."""
        return _figures(
            self.scored,
            self.grid_w,
            self.windows,
            self.energy_wh,
            self.starts,
            battery_change_wh=battery_change_wh,
            car_solar_wh=self.car_solar_wh,
        )


def _periods(scored: _Scored) -> list[list[int]]:
    """Return the steps (relative to the scored start) of each netting period."""
    tariff = scored.site.tariff
    periods: list[list[int]] = []
    last: datetime | None = None
    for offset in range(scored.last - scored.first):
        moment = scored.moment(scored.first + offset)
        begins = tariff.period_start(moment)
        if not tariff.netting_minutes or begins != last:
            periods.append([])
            last = begins
        periods[-1].append(offset)
    return periods


def _refill_price(scored: _Scored) -> float:
    """Return what a kWh the battery ends short costs: the cheapest import, charged in."""
    imports, _ = scored.site.tariff.prices(
        scored.moment(scored.first), scored.series.step, scored.last - scored.first
    )
    return min(imports) / battery_limits(1, 1).charge_efficiency


def _figures(
    scored: _Scored,
    grid_w: Sequence[float],
    windows: Sequence[_Window],
    energy_wh: dict[str, float],
    starts: dict[str, int],
    *,
    battery_change_wh: float = 0.0,
    car_solar_wh: float = 0.0,
) -> dict[str, Any]:
    """Return cost, energies, each load's and the car's energy against its need."""
    step_h, tariff = scored.step_h, scored.site.tariff
    begins = scored.moment(scored.first)
    imports, exports = tariff.prices(begins, scored.series.step, len(grid_w))
    cost = netted_in = netted_out = 0.0
    for steps in _periods(scored):
        net = sum(grid_w[i] for i in steps) * step_h / 1000
        first = steps[0]
        cost += imports[first] * max(net, 0.0) - exports[first] * max(-net, 0.0)
        netted_in += max(net, 0.0)
        netted_out += max(-net, 0.0)
    loads: dict[str, Any] = {}
    for load in scored.site.loads:
        own = [w for w in windows if w.load is load]
        need = sum(w.need_wh for w in own)
        short = sum(max(w.need_wh - w.delivered_wh, 0.0) for w in own)
        loads[load.name] = {
            "energy_kwh": round(energy_wh.get(load.name, 0.0) / 1000, 3),
            "need_kwh": round(need / 1000, 3),
            "shortfall_kwh": round(short / 1000, 3),
            "starts": starts.get(load.name, 0),
        }
    # A battery that ends emptier than it began is refilled at the cheapest
    # import (and one that ends fuller is credited alike).
    cost -= battery_change_wh / 1000 * _refill_price(scored)
    peaks = _billed_peaks(scored, grid_w)
    demand = sum((tariff.demand_cost(peak) for peak in peaks.values()), 0.0)
    grid = scored.site.grid
    limit = math.inf if grid is None else grid.import_limit_w
    extra: dict[str, Any] = {
        "limit_violations": sum(1 for g in grid_w if g > limit + 1e-6)
    }
    if scored.site.car is not None:
        sessions = [w for w in windows if w.load.name == CAR]
        extra["car"] = {
            "energy_kwh": round(energy_wh.get(CAR, 0.0) / 1000, 3),
            "need_kwh": round(sum(w.need_wh for w in sessions) / 1000, 3),
            "shortfall_kwh": round(
                sum(max(w.need_wh - w.delivered_wh, 0.0) for w in sessions) / 1000,
                3,
            ),
            "solar_kwh": round(car_solar_wh / 1000, 3),
        }
    return {
        "cost": round(cost + demand, 4),
        "energy_cost": round(cost, 4),
        "demand_cost": round(demand, 4),
        "peak_import_w": round(max(peaks.values(), default=0.0), 1),
        "import_kwh": round(sum(max(g, 0.0) for g in grid_w) * step_h / 1000, 3),
        "export_kwh": round(sum(max(-g, 0.0) for g in grid_w) * step_h / 1000, 3),
        "netted_import_kwh": round(netted_in, 3),
        "netted_export_kwh": round(netted_out, 3),
        "battery_change_kwh": round(battery_change_wh / 1000, 3),
        "loads": loads,
        **extra,
    }


def _billed_peaks(scored: _Scored, grid_w: Sequence[float]) -> dict[str, float]:
    """Return each billing period's peak: its highest average import per interval."""
    hours = scored.site.tariff.billing_interval / timedelta(hours=1)
    peaks: dict[str, float] = {}
    for key, steps in _billing_intervals(scored, len(grid_w)):
        imported = sum(max(grid_w[o], 0.0) for o in steps) * scored.step_h
        peaks[key] = max(peaks.get(key, 0.0), imported / hours)
    return peaks


class _Strategy(Protocol):
    """Sets the loads and the battery's grid power for one step."""

    def step(
        self, index: int, tally: _Tally, battery_wh: float | None
    ) -> tuple[dict[str, float], float | BatteryOrder]:
        """Return the loads' powers and the grid power the battery is to hold.

        Or, in place of that power, the controller's order: the battery
        holds its grid power only where that pays.
        """

    def observe(
        self, index: int, real: dict[str, float], battery_w: float, grid_w: float
    ) -> None:
        """Take what the step really did."""


def _replay(scored: _Scored, strategy: _Strategy) -> dict[str, Any]:
    """Run a strategy over the scored days; return its figures."""
    tally = _Tally(scored, scored.fresh_windows())
    battery = _battery(scored)
    step_h = scored.step_h
    for index in range(scored.first, scored.last):
        energy = battery.energy_wh if battery is not None else None
        powers, grid_target = strategy.step(index, tally, energy)
        battery_w = 0.0
        if battery is not None:
            net = (
                scored.series.load_w[index]
                - scored.series.pv_w[index]
                + sum(_capped(scored, tally, index, powers).values())
            )
            wanted = (
                grid_target.battery_w(net)
                if isinstance(grid_target, BatteryOrder)
                else grid_target - net
            )
            battery_w = battery.run(wanted, step_h)
        real = tally.book(index, powers, battery_w)
        strategy.observe(index, real, battery_w, tally.grid_w[-1])
    if battery is None:
        return tally.figures()
    return tally.figures(battery.energy_wh - _battery_start_wh(scored))


def _capped(
    scored: _Scored, tally: _Tally, index: int, powers: dict[str, float]
) -> dict[str, float]:
    """Return the powers the loads will really draw in the step."""
    moment, step_h = scored.moment(index), scored.step_h
    return {
        load.name: min(
            max(powers.get(load.name, 0.0), 0.0),
            load.power_w,
            tally.remaining_wh(load, moment) / step_h,
        )
        for load in scored.site.all_loads
    }


def _battery_start_wh(scored: _Scored) -> float:
    """Return the energy the battery starts with."""
    spec = scored.site.battery
    return 0.0 if spec is None else spec.capacity_wh * START_SOC_SHARE


def _battery(scored: _Scored) -> Battery | None:
    """Return the site's battery, half full, or None."""
    spec = scored.site.battery
    if spec is None:
        return None
    limits = battery_limits(spec.capacity_wh / 1000, spec.power_w / 1000)
    return Battery(limits, spec.capacity_wh * START_SOC_SHARE)


class _Timer:
    """``none``: each load from its window's start until its need is met."""

    def __init__(self, scored: _Scored) -> None:
        """Keep the scored days."""
        self.scored = scored

    def observe(
        self, index: int, real: dict[str, float], battery_w: float, grid_w: float
    ) -> None:
        """Need nothing: a timer does not look."""

    def step(
        self, index: int, tally: _Tally, battery_wh: float | None
    ) -> tuple[dict[str, float], float]:
        """Run every load whose window still needs energy."""
        moment = self.scored.moment(index)
        return {
            load.name: load.power_w if tally.remaining_wh(load, moment) > 0 else 0.0
            for load in self.scored.site.all_loads
        }, 0.0


class _Instant:
    """``instant``: seed 003's rule (see the module doc)."""

    def __init__(self, scored: _Scored) -> None:
        """Start with every load off."""
        self.scored = scored
        self.power: dict[str, float] = {load.name: 0.0 for load in scored.site.loads}
        self.switched: dict[str, datetime | None] = dict.fromkeys(self.power)
        self.grid_w = 0.0

    def observe(
        self, index: int, real: dict[str, float], battery_w: float, grid_w: float
    ) -> None:
        """Read the meter and the loads."""
        self.grid_w = grid_w
        self.power = dict(real)

    def step(
        self, index: int, tally: _Tally, battery_wh: float | None
    ) -> tuple[dict[str, float], float]:
        """Switch on export, off on import, and run late what is left."""
        moment, step = self.scored.moment(index), self.scored.series.step
        grid = self.grid_w
        loads = sorted(self.scored.site.loads, key=lambda load: -load.priority)
        wanted: dict[str, float] = {}
        for load in loads:
            was = self.power[load.name]
            power = self._decide(load, moment, step, tally, grid=grid, was=was)
            grid += power - was
            if (power > 0) != (was > 0):
                self.switched[load.name] = moment
            wanted[load.name] = power
        car = self.scored.site.car
        if car is not None:
            # The real-time layer does not know the car: it charges as plugged in.
            wanted[CAR] = car.max_power_w
        return wanted, 0.0

    def _decide(
        self,
        load: FlexibleLoad,
        moment: datetime,
        step: timedelta,
        tally: _Tally,
        *,
        grid: float,
        was: float,
    ) -> float:
        """Return one load's power for the step."""
        window = tally.window(load, moment)
        remaining = tally.remaining_wh(load, moment)
        if window is None or remaining <= 0:
            return 0.0
        # Switched off now, it could not start again before its minimum off time.
        lost = step + (load.min_off if was > 0 else timedelta(0))
        left_h = (window.closes - moment - lost) / timedelta(hours=1)
        if remaining >= load.power_w * max(left_h, 0.0):
            return load.power_w
        if was > 0 and not load.interruptible:
            return was
        switched = self.switched[load.name]
        held = load.min_on if was > 0 else load.min_off
        if switched is not None and moment - switched < held:
            return was
        if load.control is LoadControl.ADJUSTABLE:
            return min(max(was - grid, 0.0), load.power_w)
        if was > 0:
            return 0.0 if grid > 0 else was
        return load.power_w if -grid > load.power_w else 0.0


class _Orchestrator:
    """``orchestrator``: the controller Home Assistant runs, on forecasts of the past."""

    def __init__(self, scored: _Scored) -> None:
        """Give the controller the history (the warm-up day and what it saw)."""
        self.scored = scored
        series = scored.series
        self.load_history = SlotHistory(PLAN_STEP)
        self.pv_history = SlotHistory(PLAN_STEP)
        for index in range(scored.first):
            self._remember(index)
        site = scored.site
        self.controller = FlexibleLoadsController(
            site.tariff,
            site.loads,
            self._forecast,
            site.battery,
            site.timezone,
            tick=series.step,
        )
        self.last: Measurement | None = None
        self.car_w = 0.0
        self.charger = (
            None
            if site.car is None
            else DeadlineCharger(site.car, scored.moment(scored.first))
        )

    def _remember(self, index: int) -> None:
        """Add one step of the measured load and PV to the history."""
        moment = self.scored.moment(index)
        self.load_history.add(moment, self.scored.series.load_w[index])
        self.pv_history.add(moment, self.scored.series.pv_w[index])

    def _forecast(self, start: datetime, steps: int) -> list[float] | None:
        """Return load minus PV per plan step: the past days' means."""
        load = forecast(self.load_history, start, steps, upper_share=0.0)
        pv = forecast(self.pv_history, start, steps, upper_share=0.0)
        if load is None:
            return None
        return [a - b for a, b in zip(load, pv or [0.0] * steps, strict=True)]

    def observe(
        self, index: int, real: dict[str, float], battery_w: float, grid_w: float
    ) -> None:
        """Remember the step's base load and PV and what the meter said."""
        self._remember(index)
        loads = {name: power for name, power in real.items() if name != CAR}
        self.last = Measurement(grid_w, loads, battery_w)
        self.car_w = real.get(CAR, 0.0)

    def step(
        self, index: int, tally: _Tally, battery_wh: float | None
    ) -> tuple[dict[str, float], float | BatteryOrder]:
        """Run the controller's tick."""
        moment = self.scored.moment(index)
        last = self.last or Measurement(0.0, {}, 0.0)
        measured = Measurement(last.grid_w, last.load_w, last.battery_w, battery_wh)
        result = self.controller.run(moment, measured)
        target = result.grid_target_w
        powers = {d.name: d.power_w for d in result.decisions}
        if self.charger is not None:
            seen = _seen(tally, moment, last, self.car_w)
            powers[CAR] = self.charger.decide(seen, self._site_room(moment, last))
        if result.battery is not None:
            return powers, result.battery
        return powers, (0.0 if target is None else target)

    def _site_room(self, moment: datetime, last: Measurement) -> SiteRoom:
        """Return the caps peak shaving would post for the car, and the plan's room ahead.

        Under the billed peak: the level the loads' plan holds (the higher
        of its billed peak and the period's so far, as peak shaving holds
        its plan's), the interval's budget at it (``interval_budget_w``,
        peak shaving's) less the import before the battery, plus what the
        car takes (``site_caps``). Under the grid's limit: the limit less
        the import.
        Ahead, per plan step: the level less the plan's import before the
        battery, the limit less its import.
        """
        controller = self.controller
        plan, meter = controller.plan, controller.demand_meter
        limit = self.scored.site.grid
        level = None
        if meter is not None and plan is not None:
            level = max(plan.billed_peak_w, controller.billed_peak_w(moment))
        net = last.grid_w - last.battery_w
        peak_cap, _ = site_caps(
            ev_power_w=self.car_w,
            phases=1,
            voltage_v=VOLTAGE_V,
            grid_headroom_w=None
            if level is None or meter is None
            else interval_budget_w(meter, moment, level) - net,
            phase_headroom_w=None,
        )
        grid_cap = (
            None
            if limit is None
            else max(self.car_w, 0.0) + limit.import_limit_w - last.grid_w
        )
        ahead = None
        if plan is not None and (level is not None or limit is not None):
            nets = [g - b for g, b in zip(plan.grid_w, plan.battery_w, strict=True)]
            ahead = RoomAhead(
                plan.start,
                plan.step,
                tuple(math.inf if level is None else level - n for n in nets),
                None
                if limit is None
                else tuple(
                    limit.import_limit_w - max(g, n)
                    for g, n in zip(plan.grid_w, nets, strict=True)
                ),
            )
        if ahead is not None and plan is not None:
            # The replay's step stands for the manager's 15 s ones, which
            # see the house rise as it comes: a step takes the room under
            # the grid's limit of the plan step its end reaches too.
            last_slot = plan.at(moment + self.scored.series.step)
            if last_slot is not None and grid_cap is not None and ahead.grid_w:
                grid_cap = min(grid_cap, ahead.grid_w[last_slot])
        return SiteRoom(peak_cap, grid_cap, ahead)


def _seen(tally: _Tally, moment: datetime, last: Measurement, car_w: float) -> CarSeen:
    """Return what a car's charger sees at ``moment``."""
    car = tally.scored.site.car_load
    window = None if car is None else tally.window(car, moment)
    return CarSeen(
        moment,
        None if window is None else window.closes,
        0.0 if window is None else max(window.need_wh - window.delivered_wh, 0.0),
        last.grid_w,
        car_w,
        last.battery_w,
    )


class _Independent(_Instant):
    """``independent``: today's controllers side by side, uncoordinated.

    The loads by the instant real-time layer (``instant``'s rule), the
    battery in self-consumption (holding 0 W at the meter, as the battery
    manager does), the car by the wallbox manager in ``deadline`` mode with
    no site caps (``DeadlineCharger`` given no ``SiteRoom``).
    """

    def __init__(self, scored: _Scored) -> None:
        """Start the loads off and make the wallbox manager."""
        super().__init__(scored)
        car = scored.site.car
        self.charger = (
            None if car is None else DeadlineCharger(car, scored.moment(scored.first))
        )
        self.last = Measurement(0.0, {}, 0.0)
        self.car_w = 0.0

    def observe(
        self, index: int, real: dict[str, float], battery_w: float, grid_w: float
    ) -> None:
        """Read the meter, the loads, the car and the battery."""
        super().observe(index, real, battery_w, grid_w)
        self.last = Measurement(grid_w, {}, battery_w)
        self.car_w = real.get(CAR, 0.0)

    def step(
        self, index: int, tally: _Tally, battery_wh: float | None
    ) -> tuple[dict[str, float], float]:
        """Run the loads' layer and the wallbox manager, each on its own."""
        powers, _ = super().step(index, tally, battery_wh)
        if self.charger is not None:
            moment = self.scored.moment(index)
            powers[CAR] = self.charger.decide(
                _seen(tally, moment, self.last, self.car_w)
            )
        return powers, 0.0


class _Foresight(_Orchestrator):
    """``foresight``: the orchestrator given the real future as its forecast.

    Not a controller anyone can run: it says what the orchestrator's plan
    and real-time layer reach where the forecast is not what is missing.
    Past the profile's end the last day repeats.
    """

    def _forecast(self, start: datetime, steps: int) -> list[float] | None:
        """Return the measured load minus PV per plan step (the mean of its steps)."""
        series = self.scored.series
        per = max(round(PLAN_STEP / series.step), 1)
        day = round(timedelta(days=1) / series.step)
        values: list[float] = []
        for number in range(steps):
            first = round((start + number * PLAN_STEP - series.start) / series.step)
            total = 0.0
            for index in range(first, first + per):
                at = index
                while at >= len(series.load_w):
                    at -= day
                total += series.load_w[at] - series.pv_w[at]
            values.append(total / per)
        return values


@dataclass
class _Bound:
    """The perfect-foresight program: its columns (see ``_optimal``)."""

    scored: _Scored
    model: Model = field(default_factory=Model)
    periods: list[list[int]] = field(default_factory=list)
    windows: list[_Window] = field(default_factory=list)
    # The battery's slots: the steps of each netting period and billing
    # interval at once.
    slots: list[list[int]] = field(default_factory=list)
    # Each load's first energy column (one per step, in Wh).
    energy: dict[str, int] = field(default_factory=dict)
    battery: Battery | None = None
    charge: int = -1
    nets: int = -1
    end: int = -1
    peaks: list[int] = field(default_factory=list)
    # The car's energy the sun gave, set by ``flows``.
    car_solar_wh: float = 0.0
    # Loads take any energy up to their power in a step (no switch): the
    # causal bound's linear relaxation.
    relaxed: bool = False

    @property
    def count(self) -> int:
        """Return how many steps the scored days have."""
        return self.scored.last - self.scored.first

    def moment(self, offset: int) -> datetime:
        """Return when scored step ``offset`` begins."""
        return self.scored.moment(self.scored.first + offset)

    def add_load(self, load: FlexibleLoad) -> None:
        """Add a load's energy per step, each counted window's need met exactly."""
        step_wh = load.power_w * self.scored.step_h
        own = [w for w in self.windows if w.load is load]
        inside = [
            [o for o in range(self.count) if w.opens <= self.moment(o) < w.closes]
            for w in own
        ]
        caps = [0.0] * self.count
        for steps in inside:
            for offset in steps:
                caps[offset] = step_wh
        energy = self.energy[load.name] = self.model.add(self.count, 0.0, caps)
        for window, steps in zip(own, inside, strict=True):
            self.model.row(
                [energy + o for o in steps],
                [1.0] * len(steps),
                lower=window.need_wh,
                upper=window.need_wh,
            )
        if load.control is LoadControl.SWITCH and not self.relaxed:
            self._add_switch(load, energy, own, inside)

    def _add_switch(
        self,
        load: FlexibleLoad,
        energy: int,
        own: list[_Window],
        inside: list[list[int]],
    ) -> None:
        """Add the switch: on at full power until the need is met, minimum times.

        The switch's state is a binary per step (off before the scored days),
        with starts and stops. Until its window's need is met (``done``, a
        binary that stays set) a load that is on draws its full power; in the
        step the need is met it may draw less, and after it nothing (its
        thermostat or timer stops it, whatever the switch). Starts lie the
        minimum on time apart from stops, stops the minimum off time from
        starts; an uninterrupted run starts once per window and stops only
        when its need is met.
        """
        model, count, step = self.model, self.count, self.scored.series.step
        step_wh = load.power_w * self.scored.step_h
        state = model.add(count, 0.0, 1.0, integer=True)
        starts = model.add(count, 0.0, 1.0)
        stops = model.add(count, 0.0, 1.0)
        for offset in range(count):
            # e <= full power while on
            model.row([energy + offset, state + offset], [1.0, -step_wh], upper=0.0)
            before = [state + offset - 1] if offset else []
            model.row(
                [starts + offset, state + offset, *before],
                [1.0, -1.0, *([1.0] * len(before))],
                lower=0.0,
            )
            model.row(
                [stops + offset, state + offset, *before],
                [1.0, 1.0, *([-1.0] * len(before))],
                lower=0.0,
            )
        on_steps = math.ceil(load.min_on / step - 1e-9)
        off_steps = math.ceil(load.min_off / step - 1e-9)
        for offset in range(count):
            if on_steps > 1:
                back = range(max(0, offset - on_steps + 1), offset + 1)
                model.row(
                    [state + offset, *(starts + b for b in back)],
                    [1.0, *(-1.0 for _ in back)],
                    lower=0.0,
                )
            if off_steps > 1:
                back = range(max(0, offset - off_steps + 1), offset + 1)
                model.row(
                    [state + offset, *(stops + b for b in back)],
                    [1.0, *(1.0 for _ in back)],
                    upper=1.0,
                )
        for window, steps in zip(own, inside, strict=True):
            if steps:
                self._add_done(load, window, steps, (energy, state, starts, stops))

    def _add_done(
        self,
        load: FlexibleLoad,
        window: _Window,
        steps: list[int],
        columns: tuple[int, int, int, int],
    ) -> None:
        """Add one window's ``done`` binaries and the energy delivered so far."""
        model, (energy, state, starts, stops) = self.model, columns
        step_wh = load.power_w * self.scored.step_h
        done = model.add(len(steps), 0.0, 1.0, integer=True)
        delivered = model.add(len(steps), 0.0, window.need_wh)
        for number, offset in enumerate(steps):
            # delivered = delivered before + e
            previous = [delivered + number - 1] if number else []
            model.row(
                [delivered + number, energy + offset, *previous],
                [1.0, -1.0, *([-1.0] * len(previous))],
                lower=0.0,
                upper=0.0,
            )
            # done only once the need is delivered; it stays done
            model.row(
                [delivered + number, done + number], [1.0, -window.need_wh], lower=0.0
            )
            if number:
                model.row([done + number, done + number - 1], [1.0, -1.0], lower=0.0)
            # e >= full power * (on - done)
            model.row(
                [energy + offset, state + offset, done + number],
                [1.0, -step_wh, step_wh],
                lower=0.0,
            )
            if not load.interruptible and number:
                # An uninterrupted run stops only once its need is met.
                model.row([stops + offset, done + number - 1], [1.0, -1.0], upper=0.0)
        if not load.interruptible:
            model.row([starts + o for o in steps], [1.0] * len(steps), upper=1.0)

    def add_battery(self, battery: Battery) -> None:
        """Add charge, discharge and energy per slot."""
        self.battery, limits, model = battery, battery.limits, self.model
        count = len(self.slots)
        sizes = [len(steps) * self.scored.step_h for steps in self.slots]
        self.charge = model.add(count, 0.0, [limits.max_charge_w * h for h in sizes])
        model.add(count, 0.0, [limits.max_discharge_w * h for h in sizes])
        energy = model.add(count, limits.energy_min_wh, limits.energy_max_wh)
        values = [1.0, -limits.charge_efficiency, 1 / limits.discharge_efficiency]
        for number in range(count):
            columns = [
                energy + number,
                self.charge + number,
                self.charge + count + number,
            ]
            if number == 0:
                model.row(columns, values, battery.energy_wh, battery.energy_wh)
            else:
                model.row([*columns, energy + number - 1], [*values, -1.0], 0.0, 0.0)
        self.end = energy + count - 1

    def _terms(self, steps: list[int]) -> tuple[list[int], list[float], float]:
        """Return the loads' and battery's columns of some steps, and the base (Wh)."""
        series, first = self.scored.series, self.scored.first
        columns = [column + o for column in self.energy.values() for o in steps]
        values = [1.0] * len(columns)
        if self.battery is not None:
            wanted = set(steps)
            count = len(self.slots)
            for number, slot in enumerate(self.slots):
                if slot[0] in wanted:
                    columns += [self.charge + number, self.charge + count + number]
                    values += [1.0, -1.0]
        base = self.scored.step_h * sum(
            series.load_w[first + o] - series.pv_w[first + o] for o in steps
        )
        return columns, values, base

    def add_periods(self, imports: list[float], exports: list[float]) -> None:
        """Add each period's net import and export and its balance."""
        count = len(self.periods)
        self.nets = self.model.add(
            2 * count,
            0.0,
            INFINITY,
            [
                price / 1000
                for steps in self.periods
                for price in (imports[steps[0]], -exports[steps[0]])
            ],
        )
        for number, steps in enumerate(self.periods):
            columns, values, base = self._terms(steps)
            columns += [self.nets + 2 * number, self.nets + 2 * number + 1]
            values += [-1.0, 1.0]
            self.model.row(columns, values, -base, -base)

    def add_demand(self) -> None:
        """Add each billing period's peak: at least each interval's net import.

        The interval's net (import less export) stands for its import: never
        more, so the bound stays below any controller's demand cost.
        """
        tariff = self.scored.site.tariff
        hours = tariff.billing_interval / timedelta(hours=1)
        peaks: dict[str, int] = {}
        for key, steps in _billing_intervals(self.scored, self.count):
            if key not in peaks:
                peaks[key] = self.model.add(
                    1, 0.0, INFINITY, tariff.demand_charge_per_kw / 1000
                )
            columns, values, base = self._terms(steps)
            self.model.row(
                [peaks[key], *columns], [hours, *(-v for v in values)], lower=base
            )
        self.peaks = list(peaks.values())

    def flows(
        self, values: Any
    ) -> tuple[list[float], dict[str, float], dict[str, int]]:
        """Return the grid per step (the battery spread over its slots), loads' energy and starts."""
        scored, step_h = self.scored, self.scored.step_h
        grid = [
            scored.series.load_w[scored.first + o]
            - scored.series.pv_w[scored.first + o]
            for o in range(self.count)
        ]
        energy_wh: dict[str, float] = {}
        starts: dict[str, int] = {}
        others = [scored.series.load_w[scored.first + o] for o in range(self.count)]
        car_e = [0.0] * self.count
        for load in scored.site.all_loads:
            column = self.energy[load.name]
            energies = [max(float(values[column + o]), 0.0) for o in range(self.count)]
            energy_wh[load.name] = sum(energies)
            starts[load.name] = sum(
                1
                for o, e in enumerate(energies)
                if e > 1e-6 and (o == 0 or energies[o - 1] <= 1e-6)
            )
            for window in (w for w in self.windows if w.load is load):
                window.delivered_wh = sum(
                    e
                    for o, e in enumerate(energies)
                    if window.opens <= self.moment(o) < window.closes
                )
            grid = [g + e / step_h for g, e in zip(grid, energies, strict=True)]
            if load.name == CAR:
                car_e = energies
            else:
                others = [o + e / step_h for o, e in zip(others, energies, strict=True)]
        if self.battery is not None:
            count = len(self.slots)
            for number, slot in enumerate(self.slots):
                net = float(
                    values[self.charge + number] - values[self.charge + count + number]
                )
                for offset in slot:
                    grid[offset] += net / (len(slot) * step_h)
        self.car_solar_wh = sum(
            step_h
            * car_solar_w(
                scored.series.pv_w[scored.first + o], others[o], car_e[o] / step_h
            )
            for o in range(self.count)
        )
        return grid, energy_wh, starts


def _billing_intervals(scored: _Scored, count: int) -> list[tuple[str, list[int]]]:
    """Return the billing period key and the steps of each billing interval."""
    tariff, zone = scored.site.tariff, scored.site.timezone
    interval_s = tariff.billing_interval.total_seconds()
    intervals: dict[datetime, list[int]] = {}
    for offset in range(count):
        moment = scored.moment(scored.first + offset)
        intervals.setdefault(interval_start_of(moment, interval_s), []).append(offset)
    return [
        (billing_period_key(begins, tariff.billing_period, zone), steps)
        for begins, steps in intervals.items()
    ]


def _slots(scored: _Scored, periods: list[list[int]]) -> list[list[int]]:
    """Return the steps of each netting period cut at billing intervals (with a charge)."""
    if scored.site.tariff.demand_charge_per_kw <= 0:
        return periods
    interval_s = scored.site.tariff.billing_interval.total_seconds()
    slots: list[list[int]] = []
    for steps in periods:
        last: datetime | None = None
        for offset in steps:
            begins = interval_start_of(scored.moment(scored.first + offset), interval_s)
            if begins != last:
                slots.append([])
                last = begins
            slots[-1].append(offset)
    return slots


def _program(
    scored: _Scored, model: Model | None = None, *, relaxed: bool = False
) -> tuple[_Bound, float]:
    """Build the perfect-foresight program; return it and what its objective leaves out.

    Its objective is the cost less the battery's energy at the start (worth
    the refill price): that constant is returned with it.
    """
    site, series = scored.site, scored.series
    periods = _periods(scored)
    bound = _Bound(
        scored,
        model=model or Model(),
        periods=periods,
        windows=scored.fresh_windows(),
        slots=_slots(scored, periods),
        relaxed=relaxed,
    )
    imports, exports = site.tariff.prices(
        scored.moment(scored.first), series.step, scored.last - scored.first
    )
    for load in site.all_loads:
        bound.add_load(load)
    battery = _battery(scored)
    if battery is not None:
        bound.add_battery(battery)
    bound.add_periods(imports, exports)
    if site.tariff.demand_charge_per_kw > 0:
        bound.add_demand()
    if battery is None:
        return bound, 0.0
    # What the battery ends with is worth the cheapest import, charged in.
    refill = _refill_price(scored) / 1000
    bound.model.add_cost(bound.end, -refill)
    return bound, battery.energy_wh * refill


def _optimal(scored: _Scored) -> dict[str, Any]:
    """Solve the perfect-foresight bound (see the module doc); return its figures."""
    site = scored.site
    bound, left_out = _program(scored)
    battery = bound.battery
    start_wh = battery.energy_wh if battery is not None else 0.0
    solution = bound.model.solve(
        time_limit_s=OPTIMAL_TIME_LIMIT_S,
        mip_rel_gap=OPTIMAL_REL_GAP,
        mip_abs_gap=OPTIMAL_ABS_GAP,
    )
    grid, energy_wh, starts = bound.flows(solution.values)
    change = 0.0
    if battery is not None:
        change = float(solution.values[bound.end]) - start_wh
    figures = _figures(
        scored,
        grid,
        bound.windows,
        energy_wh,
        starts,
        battery_change_wh=change,
        car_solar_wh=bound.car_solar_wh,
    )
    peaks = [float(solution.values[p]) for p in bound.peaks]
    demand = sum((site.tariff.demand_cost(p) for p in peaks), 0.0)
    # The bound's own cost (the program's objective; its battery's end
    # valued, its interval nets for the demand), or where HiGHS could not
    # prove it in time, the lowest cost it proved possible.
    lowest = (
        solution.dual_bound if solution.dual_bound is not None else solution.objective
    )
    total = (solution.objective if solution.optimal else lowest) + left_out
    figures["cost"] = round(total, 4)
    figures["energy_cost"] = round(total - demand, 4)
    figures["demand_cost"] = round(demand, 4)
    if bound.peaks:
        # Billed on the intervals' net import (never above their import).
        figures["peak_import_w"] = round(max(peaks), 1)
    figures["proven"] = solution.optimal
    figures["gap"] = round(solution.objective - lowest, 4)
    return figures


def run_site_backtest(
    series: Series, site: Site, strategies: Sequence[str] = STRATEGIES
) -> dict[str, Any]:
    """Replay the site on the profile; return every strategy's figures."""
    scored = _scored(series, site)
    results: dict[str, Any] = {}
    makers: dict[str, Callable[[_Scored], _Strategy]] = {
        "none": _Timer,
        "instant": _Instant,
        "orchestrator": _Orchestrator,
        "foresight": _Foresight,
        "independent": _Independent,
    }
    battery_only = not site.all_loads and site.battery is not None
    if battery_only:
        # A battery alone: what its manager runs, the price plan.
        makers["orchestrator"] = PricePlanStrategy
    for name in strategies:
        if name == "optimal":
            results[name] = _optimal(scored)
        else:
            results[name] = _replay(scored, makers[name](scored))
    return {
        "strategies": results,
        "scored_from": scored.moment(scored.first).astimezone(UTC).isoformat(),
        "scored_to": scored.moment(scored.last).astimezone(UTC).isoformat(),
    }


def format_backtest_site(result: dict[str, Any]) -> str:
    """Return the strategies' figures as a table."""
    lines = [
        f"scored {result['scored_from']} to {result['scored_to']}",
        f"{'strategy':<13}{'cost':>10}{'demand':>9}{'peak W':>9}{'over':>6}"
        f"{'import kWh':>12}{'export kWh':>12}{'netted in':>11}{'netted out':>12}"
        "  needs",
    ]
    for name, figures in result["strategies"].items():
        short = sum(load["shortfall_kwh"] for load in figures["loads"].values())
        short += figures.get("car", {}).get("shortfall_kwh", 0.0)
        needs = "met" if short <= 0 else f"{short:.2f} kWh short"
        lines.append(
            f"{name:<13}{figures['cost']:>10.2f}{figures['demand_cost']:>9.2f}"
            f"{figures['peak_import_w']:>9.0f}{figures['limit_violations']:>6}"
            f"{figures['import_kwh']:>12.2f}"
            f"{figures['export_kwh']:>12.2f}{figures['netted_import_kwh']:>11.2f}"
            f"{figures['netted_export_kwh']:>12.2f}  {needs}"
        )
    bound = result.get("causal_bound")
    if bound is not None:
        lines.append(
            f"causal bound: {bound['share']:.1%} of the relaxed optimum's saving"
            f" ({bound['relaxed_optimal_cost']:.2f} against none's"
            f" {bound['none_cost']:.2f}), over {bound['branches']} branches"
        )
    return "\n".join(lines)
