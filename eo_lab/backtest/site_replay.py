"""The replay of ``eo backtest-site``: the scored days, a strategy's run, its figures.

Every strategy runs on the same grid through ``replay``, which books each
step (loads capped by their needs, the battery holding the grid power it
is given) and checks that energy balances; ``strategy_figures`` prices a
run under the tariff. See ``eo_lab.backtest.site`` for the strategies.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
import math
from typing import Any, Protocol

from custom_components.energy_orchestrator.lib.control.billing import (
    billing_period_key,
    interval_start_of,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    BatteryOrder,
    FlexibleLoad,
)
from eo_lab.backtest.battery import Battery, battery_limits
from eo_lab.backtest.profile import Series, split_warmup
from eo_lab.backtest.site_car import (
    CAR,
    car_solar_w,
)
from eo_lab.backtest.site_config import Site

PLAN_STEP = timedelta(minutes=15)
START_SOC_SHARE = 0.5


@dataclass
class ScoredWindow:
    """One window of one load in the scored days, and what it got."""

    load: FlexibleLoad
    opens: datetime
    closes: datetime
    need_wh: float
    delivered_wh: float = 0.0


@dataclass
class Scored:
    """The scored days: their steps, the loads' windows, the netting periods."""

    series: Series
    first: int
    last: int
    site: Site
    windows: list[ScoredWindow] = field(default_factory=list)

    @property
    def step_h(self) -> float:
        """Return a step in hours."""
        return self.series.step / timedelta(hours=1)

    def moment(self, index: int) -> datetime:
        """Return when step ``index`` begins."""
        return self.series.start + index * self.series.step

    def fresh_windows(self) -> list[ScoredWindow]:
        """Return the windows with nothing delivered yet."""
        return [
            ScoredWindow(w.load, w.opens, w.closes, w.need_wh) for w in self.windows
        ]


def scored_days(series: Series, site: Site) -> Scored:
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
    scored = Scored(series, max(start_index, first), end_index, site)
    begins, ends = scored.moment(scored.first), scored.moment(scored.last)
    for load in site.all_loads:
        for opens, closes in load.windows(begins, ends, zone):
            if opens >= begins and closes <= ends:
                scored.windows.append(
                    ScoredWindow(load, opens, closes, load.energy_wh_per_day)
                )
    return scored


@dataclass
class Tally:
    """One strategy's run: the grid per step, the loads' energy and starts."""

    scored: Scored
    windows: list[ScoredWindow]
    grid_w: list[float] = field(default_factory=list)
    starts: dict[str, int] = field(default_factory=dict)
    energy_wh: dict[str, float] = field(default_factory=dict)
    was_on: dict[str, bool] = field(default_factory=dict)
    car_solar_wh: float = 0.0

    def window(self, load: FlexibleLoad, moment: datetime) -> ScoredWindow | None:
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
        return strategy_figures(
            self.scored,
            self.grid_w,
            self.windows,
            self.energy_wh,
            self.starts,
            battery_change_wh=battery_change_wh,
            car_solar_wh=self.car_solar_wh,
        )


def netting_periods(scored: Scored) -> list[list[int]]:
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


def refill_price(scored: Scored) -> float:
    """Return what a kWh the battery ends short costs: the cheapest import, charged in."""
    imports, _ = scored.site.tariff.prices(
        scored.moment(scored.first), scored.series.step, scored.last - scored.first
    )
    return min(imports) / battery_limits(1, 1).charge_efficiency


def strategy_figures(
    scored: Scored,
    grid_w: Sequence[float],
    windows: Sequence[ScoredWindow],
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
    for steps in netting_periods(scored):
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
    cost -= battery_change_wh / 1000 * refill_price(scored)
    peaks = billed_peaks(scored, grid_w)
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


def billed_peaks(scored: Scored, grid_w: Sequence[float]) -> dict[str, float]:
    """Return each billing period's peak: its highest average import per interval."""
    hours = scored.site.tariff.billing_interval / timedelta(hours=1)
    peaks: dict[str, float] = {}
    for key, steps in billing_intervals(scored, len(grid_w)):
        imported = sum(max(grid_w[o], 0.0) for o in steps) * scored.step_h
        peaks[key] = max(peaks.get(key, 0.0), imported / hours)
    return peaks


class Strategy(Protocol):
    """Sets the loads and the battery's grid power for one step."""

    def step(
        self, index: int, tally: Tally, battery_wh: float | None
    ) -> tuple[dict[str, float], float | BatteryOrder]:
        """Return the loads' powers and the grid power the battery is to hold.

        Or, in place of that power, the controller's order: the battery
        holds its grid power only where that pays.
        """

    def observe(
        self, index: int, real: dict[str, float], battery_w: float, grid_w: float
    ) -> None:
        """Take what the step really did."""


def replay(scored: Scored, strategy: Strategy) -> dict[str, Any]:
    """Run a strategy over the scored days; return its figures."""
    tally = Tally(scored, scored.fresh_windows())
    battery = start_battery(scored)
    step_h = scored.step_h
    for index in range(scored.first, scored.last):
        energy = battery.energy_wh if battery is not None else None
        powers, grid_target = strategy.step(index, tally, energy)
        battery_w = 0.0
        if battery is not None:
            net = (
                scored.series.load_w[index]
                - scored.series.pv_w[index]
                + sum(capped_powers(scored, tally, index, powers).values())
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
    return tally.figures(battery.energy_wh - battery_start_wh(scored))


def capped_powers(
    scored: Scored, tally: Tally, index: int, powers: dict[str, float]
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


def battery_start_wh(scored: Scored) -> float:
    """Return the energy the battery starts with."""
    spec = scored.site.battery
    return 0.0 if spec is None else spec.capacity_wh * START_SOC_SHARE


def start_battery(scored: Scored) -> Battery | None:
    """Return the site's battery, half full, or None."""
    spec = scored.site.battery
    if spec is None:
        return None
    limits = battery_limits(spec.capacity_wh / 1000, spec.power_w / 1000)
    return Battery(limits, spec.capacity_wh * START_SOC_SHARE)


def billing_intervals(scored: Scored, count: int) -> list[tuple[str, list[int]]]:
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
