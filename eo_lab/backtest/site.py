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
  runs, planning every 15 minutes from forecasts of the past days only;
- ``optimal``: perfect foresight, solved exactly, the lower bound no
  controller beats: a linear program over every netting period of the
  scored days at once, in which each load may take any energy up to its
  power within a period (a relaxation of the on/off steps and of the
  minimum times) and the battery any power (its energy checked at the
  periods' ends).

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

from custom_components.energy_orchestrator.lib.control.flexible_loads import (
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
from eo_lab.backtest.battery import Battery, battery_limits
from eo_lab.backtest.profile import Series, split_warmup
from eo_lab.backtest.site_config import Site

STRATEGIES = ("none", "instant", "orchestrator", "optimal")
PLAN_STEP = timedelta(minutes=15)
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
    for load in site.loads:
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
        for load in scored.site.loads:
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
) -> dict[str, Any]:
    """Return cost, energies and each load's energy against its need."""
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
    return {
        "cost": round(cost, 4),
        "import_kwh": round(sum(max(g, 0.0) for g in grid_w) * step_h / 1000, 3),
        "export_kwh": round(sum(max(-g, 0.0) for g in grid_w) * step_h / 1000, 3),
        "netted_import_kwh": round(netted_in, 3),
        "netted_export_kwh": round(netted_out, 3),
        "battery_change_kwh": round(battery_change_wh / 1000, 3),
        "loads": loads,
    }


class _Strategy(Protocol):
    """Sets the loads and the battery's grid power for one step."""

    def step(
        self, index: int, tally: _Tally, battery_wh: float | None
    ) -> tuple[dict[str, float], float]:
        """Return the loads' powers and the grid power the battery is to hold."""

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
            battery_w = battery.run(grid_target - net, step_h)
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
        for load in scored.site.loads
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
            for load in self.scored.site.loads
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
        self.last = Measurement(grid_w, dict(real), battery_w)

    def step(
        self, index: int, tally: _Tally, battery_wh: float | None
    ) -> tuple[dict[str, float], float]:
        """Run the controller's tick."""
        moment = self.scored.moment(index)
        last = self.last or Measurement(0.0, {}, 0.0)
        measured = Measurement(last.grid_w, last.load_w, last.battery_w, battery_wh)
        result = self.controller.run(moment, measured)
        target = result.grid_target_w
        return {d.name: d.power_w for d in result.decisions}, (
            0.0 if target is None else target
        )


@dataclass
class _Bound:
    """The perfect-foresight program's columns."""

    scored: _Scored
    model: Model = field(default_factory=Model)
    periods: list[list[int]] = field(default_factory=list)
    windows: list[_Window] = field(default_factory=list)
    loads: dict[str, int] = field(default_factory=dict)
    battery: Battery | None = None
    charge: int = -1
    nets: int = -1
    end: int = -1

    def starts_at(self, number: int) -> datetime:
        """Return when period ``number`` begins."""
        return self.scored.moment(self.scored.first + self.periods[number][0])

    def add_load(self, load: FlexibleLoad) -> None:
        """Add a load's energy per period, each counted window's need met exactly."""
        step_h = self.scored.step_h
        caps = [
            load.power_w
            * step_h
            * sum(
                1
                for offset in steps
                if _counted(
                    self.windows, load, self.scored.moment(self.scored.first + offset)
                )
            )
            for steps in self.periods
        ]
        first = self.loads[load.name] = self.model.add(len(self.periods), 0.0, caps)
        for window in (w for w in self.windows if w.load is load):
            inside = [
                number
                for number in range(len(self.periods))
                if window.opens <= self.starts_at(number) < window.closes
            ]
            self.model.row(
                [first + n for n in inside],
                [1.0] * len(inside),
                lower=window.need_wh,
                upper=window.need_wh,
            )

    def add_battery(self, battery: Battery) -> None:
        """Add charge, discharge and energy per period; it ends no emptier."""
        self.battery, limits, model = battery, battery.limits, self.model
        count = len(self.periods)
        sizes = [len(steps) * self.scored.step_h for steps in self.periods]
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
        # The energy it ends with is worth the cheapest import, charged in.
        self.end = energy + count - 1
        model.fix(self.end, limits.energy_min_wh, limits.energy_max_wh)

    def add_periods(self, imports: list[float], exports: list[float]) -> None:
        """Add each period's net import and export and its balance."""
        series, first, count = self.scored.series, self.scored.first, len(self.periods)
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
            base = self.scored.step_h * sum(
                series.load_w[first + i] - series.pv_w[first + i] for i in steps
            )
            columns = [column + number for column in self.loads.values()]
            values = [1.0] * len(columns)
            if self.battery is not None:
                columns += [self.charge + number, self.charge + count + number]
                values += [1.0, -1.0]
            columns += [self.nets + 2 * number, self.nets + 2 * number + 1]
            values += [-1.0, 1.0]
            self.model.row(columns, values, -base, -base)

    def flows(
        self, values: Any
    ) -> tuple[list[float], dict[str, float], dict[str, int]]:
        """Return the grid per step (periods spread evenly), loads' energy and starts."""
        count, scored = len(self.periods), self.scored
        energy_wh: dict[str, float] = {}
        starts: dict[str, int] = {}
        per_period = [0.0] * count
        for load in scored.site.loads:
            column = self.loads[load.name]
            energies = [float(values[column + n]) for n in range(count)]
            energy_wh[load.name] = sum(energies)
            starts[load.name] = sum(
                1
                for n, e in enumerate(energies)
                if e > 1e-6 and (n == 0 or energies[n - 1] <= 1e-6)
            )
            for window in (w for w in self.windows if w.load is load):
                window.delivered_wh = sum(
                    e
                    for n, e in enumerate(energies)
                    if window.opens <= self.starts_at(n) < window.closes
                )
            per_period = [a + b for a, b in zip(per_period, energies, strict=True)]
        if self.battery is not None:
            per_period = [
                a + float(values[self.charge + n] - values[self.charge + count + n])
                for n, a in enumerate(per_period)
            ]
        grid: list[float] = []
        for number, steps in enumerate(self.periods):
            hours = len(steps) * scored.step_h
            for offset in steps:
                index = scored.first + offset
                grid.append(
                    scored.series.load_w[index]
                    - scored.series.pv_w[index]
                    + per_period[number] / hours
                )
        return grid, energy_wh, starts


def _optimal(scored: _Scored) -> dict[str, Any]:
    """Solve the perfect-foresight bound (see the module doc); return its figures."""
    site, series = scored.site, scored.series
    bound = _Bound(scored, periods=_periods(scored), windows=scored.fresh_windows())
    imports, exports = site.tariff.prices(
        scored.moment(scored.first), series.step, scored.last - scored.first
    )
    for load in site.loads:
        bound.add_load(load)
    battery = _battery(scored)
    if battery is not None:
        bound.add_battery(battery)
    bound.add_periods(imports, exports)
    refill = _refill_price(scored) / 1000
    if battery is not None:
        bound.model.add_cost(bound.end, -refill)
    solution = bound.model.solve(time_limit_s=600.0, mip_rel_gap=0.0)
    grid, energy_wh, starts = bound.flows(solution.values)
    change = 0.0
    if battery is not None:
        change = float(solution.values[bound.end]) - battery.energy_wh
    figures = _figures(
        scored, grid, bound.windows, energy_wh, starts, battery_change_wh=change
    )
    figures["cost"] = round(
        _cost_of(solution.values, bound.nets, bound.periods, imports, exports)
        - change * refill,
        4,
    )
    return figures


def _cost_of(
    values: Any,
    net_columns: int,
    periods: list[list[int]],
    imports: list[float],
    exports: list[float],
) -> float:
    """Return the bound's cost from its periods' net import and export."""
    return sum(
        imports[steps[0]] / 1000 * float(values[net_columns + 2 * n])
        - exports[steps[0]] / 1000 * float(values[net_columns + 2 * n + 1])
        for n, steps in enumerate(periods)
    )


def _counted(windows: Sequence[_Window], load: FlexibleLoad, moment: datetime) -> bool:
    """Return whether one of the load's counted windows is open at ``moment``."""
    return any(w.load is load and w.opens <= moment < w.closes for w in windows)


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
    }
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
        f"{'strategy':<13}{'cost':>10}{'import kWh':>12}{'export kWh':>12}"
        f"{'netted in':>11}{'netted out':>12}  needs",
    ]
    for name, figures in result["strategies"].items():
        short = sum(load["shortfall_kwh"] for load in figures["loads"].values())
        needs = "met" if short <= 0 else f"{short:.2f} kWh short"
        lines.append(
            f"{name:<13}{figures['cost']:>10.2f}{figures['import_kwh']:>12.2f}"
            f"{figures['export_kwh']:>12.2f}{figures['netted_import_kwh']:>11.2f}"
            f"{figures['netted_export_kwh']:>12.2f}  {needs}"
        )
    return "\n".join(lines)
