"""``optimal`` of ``eo backtest-site``: perfect foresight, solved exactly.

One mixed-integer program over the scored days on the replay's own grid
(see ``eo_lab.backtest.site``); its relaxation is the causal bound's
(``eo_lab.backtest.site_bound``). Where the site has switched loads only,
the dynamic program of ``eo_lab.backtest.site_exact`` solves the same
problem exactly (HiGHS did not prove it in minutes at 15-minute netting).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
import math
from typing import Any

from custom_components.energy_orchestrator.lib.control.billing import (
    interval_start_of,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    FlexibleLoad,
    LoadControl,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.milp import (
    INFINITY,
    Model,
)
from eo_lab.backtest.battery import Battery
from eo_lab.backtest.site_car import (
    CAR,
    car_solar_w,
)
from eo_lab.backtest.site_exact import (
    EXACT_STATE_LIMIT,
    Period,
    SwitchedLoad,
    solve_exact,
)
from eo_lab.backtest.site_replay import (
    Scored,
    ScoredWindow,
    billing_intervals,
    netting_periods,
    refill_price,
    start_battery,
    strategy_figures,
)

# ``optimal`` is proven within a tenth of a cent, or after this long, the
# lowest cost HiGHS proved possible stands for it.
OPTIMAL_TIME_LIMIT_S = 120.0
OPTIMAL_REL_GAP = 1e-6
OPTIMAL_ABS_GAP = 1e-3


@dataclass
class OptimalProgram:
    """The perfect-foresight program: its columns (see ``solve_optimal``)."""

    scored: Scored
    model: Model = field(default_factory=Model)
    periods: list[list[int]] = field(default_factory=list)
    windows: list[ScoredWindow] = field(default_factory=list)
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
        own: list[ScoredWindow],
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
        window: ScoredWindow,
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
        for key, steps in billing_intervals(self.scored, self.count):
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


def battery_slots(scored: Scored, periods: list[list[int]]) -> list[list[int]]:
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


def optimal_program(
    scored: Scored, model: Model | None = None, *, relaxed: bool = False
) -> tuple[OptimalProgram, float]:
    """Build the perfect-foresight program; return it and what its objective leaves out.

    Its objective is the cost less the battery's energy at the start (worth
    the refill price): that constant is returned with it.
    """
    site, series = scored.site, scored.series
    periods = netting_periods(scored)
    bound = OptimalProgram(
        scored,
        model=model or Model(),
        periods=periods,
        windows=scored.fresh_windows(),
        slots=battery_slots(scored, periods),
        relaxed=relaxed,
    )
    imports, exports = site.tariff.prices(
        scored.moment(scored.first), series.step, scored.last - scored.first
    )
    for load in site.all_loads:
        bound.add_load(load)
    battery = start_battery(scored)
    if battery is not None:
        bound.add_battery(battery)
    bound.add_periods(imports, exports)
    if site.tariff.demand_charge_per_kw > 0:
        bound.add_demand()
    if battery is None:
        return bound, 0.0
    # What the battery ends with is worth the cheapest import, charged in.
    refill = refill_price(scored) / 1000
    bound.model.add_cost(bound.end, -refill)
    return bound, battery.energy_wh * refill


def solve_optimal(scored: Scored) -> dict[str, Any]:
    """Solve the perfect-foresight bound (see the module doc); return its figures."""
    exact = solve_by_program(scored)
    if exact is not None:
        return exact
    site = scored.site
    bound, left_out = optimal_program(scored)
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
    figures = strategy_figures(
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


def exact_inputs(scored: Scored) -> tuple[list[SwitchedLoad], list[Period]] | None:
    """Return the dynamic program's loads and periods, or None where it does not apply.

    It applies to switched, interruptible loads alone: no battery, no car,
    no demand charge, and a joint state space within ``EXACT_STATE_LIMIT``.
    """
    site, series, step = scored.site, scored.series, scored.series.step
    loads = site.all_loads
    if (
        site.battery is not None
        or site.tariff.demand_charge_per_kw > 0
        or any(
            load.control is not LoadControl.SWITCH or not load.interruptible
            for load in loads
        )
    ):
        return None
    program = OptimalProgram(scored)
    switched: list[SwitchedLoad] = []
    for load in loads:
        windows = []
        for window in scored.windows:
            if window.load is not load:
                continue
            inside = [
                o
                for o in range(program.count)
                if window.opens <= program.moment(o) < window.closes
            ]
            if inside:
                windows.append((inside[0], inside[-1] + 1, window.need_wh))
        switched.append(
            SwitchedLoad(
                load.name,
                load.power_w * scored.step_h,
                math.ceil(load.min_on / step - 1e-9),
                math.ceil(load.min_off / step - 1e-9),
                tuple(windows),
            )
        )
    if math.prod(load.states for load in switched) > EXACT_STATE_LIMIT:
        return None
    imports, exports = site.tariff.prices(
        scored.moment(scored.first), step, program.count
    )
    periods = [
        Period(
            steps,
            scored.step_h
            * sum(
                series.load_w[scored.first + o] - series.pv_w[scored.first + o]
                for o in steps
            ),
            imports[steps[0]],
            exports[steps[0]],
        )
        for steps in netting_periods(scored)
    ]
    return switched, periods


def solve_by_program(scored: Scored) -> dict[str, Any] | None:
    """Solve ``optimal`` by the dynamic program where it applies; return its figures."""
    inputs = exact_inputs(scored)
    if inputs is None:
        return None
    loads, periods = inputs
    count = scored.last - scored.first
    schedule = solve_exact(loads, periods, count)
    series, first, step_h = scored.series, scored.first, scored.step_h
    grid = [series.load_w[first + o] - series.pv_w[first + o] for o in range(count)]
    windows = scored.fresh_windows()
    energy_wh: dict[str, float] = {}
    starts: dict[str, int] = {}
    for load in scored.site.all_loads:
        energies = schedule.energy_wh[load.name]
        energy_wh[load.name] = sum(energies)
        starts[load.name] = sum(
            1
            for o, e in enumerate(energies)
            if e > 1e-6 and (o == 0 or energies[o - 1] <= 1e-6)
        )
        for window in (w for w in windows if w.load is load):
            window.delivered_wh = sum(
                e
                for o, e in enumerate(energies)
                if window.opens <= scored.moment(first + o) < window.closes
            )
        grid = [g + e / step_h for g, e in zip(grid, energies, strict=True)]
    figures = strategy_figures(scored, grid, windows, energy_wh, starts)
    # The schedule's own cost, priced as every strategy's, is the optimum's.
    if abs(figures["energy_cost"] - schedule.cost) > 1e-3:
        raise AssertionError(
            f"the schedule costs {figures['energy_cost']}, the program {schedule.cost}"
        )
    figures["proven"] = True
    figures["gap"] = 0.0
    figures["method"] = "dynamic program"
    return figures
