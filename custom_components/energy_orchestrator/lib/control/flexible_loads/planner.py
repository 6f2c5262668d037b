"""The plan: when each flexible load runs (and the battery works) at the lowest cost.

A mixed-integer linear program on a grid of ``step`` (15 minutes) over the
horizon (24 hours by default), solved exactly by HiGHS (proven within a tenth of a cent of the optimum):

- a switched load is on or off for a whole step (a binary); an adjustable
  one takes any power up to its own;
- each window that overlaps the horizon gets its need (what is left of it
  in the window already open; in a window the horizon cuts, what could not
  be done after the horizon): the energy in the window is at least that,
  less a shortfall priced far above any energy, and at most that rounded up
  to a whole step of the load (more where a minimum on time carried in
  forces it);
- starts and stops keep the minimum on and off times, the state and the
  time since the last switch carried in; an uninterrupted run starts at
  most once per window and lasts its whole run;
- the battery's energy follows its charge and discharge through their
  efficiencies within its reserve and capacity; what is left at the end is
  worth the horizon's lowest export price (after discharge losses);
- within each netting period (aligned to the clock; the step without
  netting), import and export cancel; the period's net import pays the
  import price of its first step, its net export earns the export price;
- with a demand charge, each billing interval's average import (each
  step's import, what the interval imported before the plan's start
  included) is at most the billing period's peak, which costs the charge
  per kW above the peak already billed (a new billing period in the
  horizon starts from none).

With a battery and scenarios of the net load (each past day's load minus
PV), the plan minimises the mean of their costs: the loads' schedule, the
billed peak and the battery's power until the import price first changes
are one for all of them (nothing tells the days apart before then, and a
plan free to act per scenario in a later step of the same price puts off,
plan after plan, what it must do now); the battery's later power is each
scenario's own. The plan reports the scenarios' mean (battery, grid,
periods' nets) and the sum of their values of stored energy. Off unless
asked for: measured, it was no better than the plan on the mean
(docs/decisions/flexible-loads.md).

A charging session (a car's, ``Session``) is placed, not driven: the plan
gives it any power up to the wallbox's from the plan's start to its
departure, and its remaining need by then (less a shortfall priced like a
load's), so the battery and the billed peak are planned with it (the car
and the battery share the night under one peak). The wallbox manager still
decides the car's power; its 6 A minimum is left out (a continuous power).

Among plans of equal cost the one that runs the loads later wins (a
thousandth of a cent per kWh and step sooner): the real-time layer soaks
up any surplus the forecast did not see, and a need left for later can
still take it; each battery kWh costs a
tenth of a cent so it does not charge and discharge at once. Starts
cost nothing: the minimum on and off times keep a plan calm, and a price
on them (even a hundredth of a cent) made HiGHS three times slower.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
import math

from ..billing import billing_period_key, interval_start_of
from .loads import FlexibleLoad, LoadControl
from .milp import INFINITY, Model, Solution
from .tariff import Tariff

STEP = timedelta(minutes=15)
# A day ahead covers every daily window; 48 hours take five times as long
# to solve, and a plan is made every 15 minutes.
HORIZON = timedelta(hours=24)
# Per kWh not delivered by its deadline: above any price, so needs come first.
SHORTFALL_PRICE = 100.0
BATTERY_COST_PER_KWH = 1e-3
# Per kWh and step sooner: breaks ties between plans of equal cost.
SOONER_COST_PER_KWH = 1e-5
TIME_LIMIT_S = 10.0
MIP_REL_GAP = 1e-6
# The plan is proven within a tenth of a cent of the optimum over its horizon.
MIP_ABS_GAP = 1e-3


@dataclass(frozen=True)
class LoadNow:
    """A load's state when the plan is made."""

    load: FlexibleLoad
    # Energy delivered in the window open now (0 when none is).
    delivered_wh: float = 0.0
    is_on: bool = False
    # How long it has been in its state (on or off); long ago when unknown.
    in_state_for: timedelta = timedelta(days=1)


@dataclass(frozen=True)
class BatteryNow:
    """The battery the plan may use, and its energy now."""

    capacity_wh: float
    power_w: float
    energy_wh: float
    reserve_wh: float = 0.0
    # One way: charge and discharge each lose this share's complement.
    efficiency: float = 0.95
    # Its charging power where it differs from ``power_w`` (then its discharge).
    charge_w: float | None = None


@dataclass(frozen=True)
class Session:
    """A charging session the plan places (not drives): what it needs by when."""

    name: str
    # What it still needs by ``departs`` (Wh).
    need_wh: float
    departs: datetime
    # The most the charger gives (W).
    power_w: float
    # What it takes now (W): the battery holds the plan's grid with it.
    charging_w: float = 0.0


@dataclass(frozen=True)
class PlanRequest:
    """What the planner is given."""

    start: datetime
    # Load minus PV per step, without the flexible loads (W).
    base_w: Sequence[float]
    tariff: Tariff
    loads: Sequence[LoadNow]
    battery: BatteryNow | None = None
    # Net energy the meter counted in the netting period before ``start``.
    period_so_far_wh: float = 0.0
    step: timedelta = STEP
    timezone: tzinfo = UTC
    # The plan made before: where it still holds, HiGHS starts from it.
    previous: Plan | None = None
    # With a demand charge: the billing period's peak so far (W), and what
    # the billing interval running at ``start`` imported before it (Wh).
    billed_peak_w: float = 0.0
    interval_import_so_far_wh: float = 0.0
    # With a battery: other forecasts of ``base_w`` (each past day's load
    # minus PV), weighed alike in its place (see the module doc). Fewer than
    # two: the plan is made on ``base_w``.
    scenarios: Sequence[Sequence[float]] = ()
    # Charging sessions placed with the loads (see the module doc).
    sessions: Sequence[Session] = ()


@dataclass(frozen=True)
class LoadPlan:
    """One load's planned power per step, and what it falls short of a need."""

    power_w: list[float]
    shortfall_wh: float


@dataclass(frozen=True)
class Plan:
    """The schedule: per step from ``start``, and its cost under the tariff."""

    start: datetime
    step: timedelta
    loads: dict[str, LoadPlan]
    battery_w: list[float]
    grid_w: list[float]
    cost: float
    optimal: bool
    seconds: float
    # Net energy of each netting period (Wh), the first with what came
    # before, and when each period ends.
    period_net_wh: list[float] = field(default_factory=list)
    period_ends: list[datetime] = field(default_factory=list)
    # ``cost`` is their sum: the energy's, and what the plan adds to the
    # billed peaks (0 without a demand charge).
    energy_cost: float = 0.0
    demand_cost: float = 0.0
    # The peak the plan bills in the billing period of its start (W).
    billed_peak_w: float = 0.0
    # With a battery: what one more kWh stored at the end of each step is
    # worth to the plan (its on/off decisions kept), per kWh; empty when
    # unknown.
    stored_value: list[float] = field(default_factory=list)
    # Each session's planned power per step (W), by name; in ``grid_w``.
    sessions: dict[str, list[float]] = field(default_factory=dict)
    # The import price of each step (per kWh); empty when unknown.
    import_price: list[float] = field(default_factory=list)

    def session_w(self, moment: datetime) -> float:
        """Return the sessions' planned power at ``moment`` (0 outside the plan)."""
        slot = self.at(moment)
        if slot is None:
            return 0.0
        return sum(power[slot] for power in self.sessions.values())

    def base_w(self, slot: int) -> float:
        """Return the forecast net load of step ``slot`` without the loads and the battery.

        Nor the charging sessions placed (they are in ``grid_w``).
        """
        loads = sum(load.power_w[slot] for load in self.loads.values())
        loads += sum(power[slot] for power in self.sessions.values())
        return self.grid_w[slot] - self.battery_w[slot] - loads

    def period_target_wh(self, moment: datetime) -> float | None:
        """Return the planned net of the netting period ``moment`` falls in."""
        for end, net in zip(self.period_ends, self.period_net_wh, strict=True):
            if moment < end:
                return net
        return None

    def at(self, moment: datetime) -> int | None:
        """Return the step ``moment`` falls in, None outside the plan."""
        index = math.floor((moment - self.start) / self.step)
        return index if 0 <= index < len(self.grid_w) else None


def plan(request: PlanRequest) -> Plan:
    """Return the lowest-cost schedule for the request (see the module doc)."""
    return _Builder(request).build()


class _Builder:
    """Builds and solves one plan's program."""

    def __init__(self, request: PlanRequest) -> None:
        """Keep the request and its prices."""
        self.request = request
        self.steps = len(request.base_w)
        self.hours = request.step / timedelta(hours=1)
        self.imports, self.exports = request.tariff.prices(
            request.start, request.step, self.steps
        )
        self.model = Model()
        # The net load forecasts the plan is weighed over (one without scenarios).
        self.bases: list[Sequence[float]] = [request.base_w]
        if request.battery is not None and len(request.scenarios) > 1:
            self.bases = [list(base) for base in request.scenarios]
        # Each scenario's share of the expected cost.
        self.weight = 1.0 / len(self.bases)
        self.load_columns: list[tuple[int, LoadNow]] = []
        self.shortfalls: list[list[int]] = []
        # The previous plan's values of the binaries, where it covers them.
        self.warm: dict[int, float] = {}
        # The battery's energy balance row of each step, per scenario.
        self.energy_rows: list[list[int]] = []
        # Each session's first column.
        self.session_columns: list[tuple[int, Session]] = []

    def build(self) -> Plan:
        """Add every part, solve, and read the plan out."""
        loads_terms: list[list[tuple[int, float]]] = [[] for _ in range(self.steps)]
        for now in self.request.loads:
            first = self._add_load(now)
            for index in range(self.steps):
                loads_terms[index].append((first + index, self._scale(now.load)))
        for session in self.request.sessions:
            first = self._add_session(session)
            for index in range(self.steps):
                loads_terms[index].append((first + index, 1.0))
        batteries: list[int] = []
        periods: list[list[tuple[list[int], int]]] = []
        peaks: dict[str, tuple[int, float]] = {}
        for base in self.bases:
            power_terms = [list(terms) for terms in loads_terms]
            battery = self._add_battery(power_terms)
            if battery is not None:
                if batteries:
                    self._share_steps(batteries[0], battery)
                batteries.append(battery)
            periods.append(self._add_periods(power_terms, base))
            self._add_demand(power_terms, base, peaks)
        solution = self.model.solve(
            time_limit_s=TIME_LIMIT_S,
            mip_rel_gap=MIP_REL_GAP,
            mip_abs_gap=MIP_ABS_GAP,
            start=self.warm,
            duals=self.request.battery is not None,
        )
        return self._read(solution, batteries, periods, list(peaks.values()))

    @staticmethod
    def _scale(load: FlexibleLoad) -> float:
        """Return the W per unit of a load's variable (its state or its power)."""
        return load.power_w if load.control is LoadControl.SWITCH else 1.0

    def _add_load(self, now: LoadNow) -> int:
        """Add one load's variables and rows; return its first column."""
        load, step, steps = now.load, self.request.step, self.steps
        switched = load.control is LoadControl.SWITCH
        start = self.request.start
        end = start + steps * step
        in_window = [False] * steps
        windows = load.windows(start, end, self.request.timezone)
        for opens, closes in windows:
            for index in range(steps):
                if opens <= start + index * step < closes:
                    in_window[index] = True
        upper = [(1.0 if switched else load.power_w) if w else 0.0 for w in in_window]
        # Among equal plans the later one: a surplus may still come.
        sooner = [
            SOONER_COST_PER_KWH
            * (steps - index)
            * self._scale(load)
            * self.hours
            / 1000
            for index in range(steps)
        ]
        # An uninterrupted run's state follows its start binaries.
        integer = switched and load.interruptible
        first = self.model.add(steps, 0.0, upper, sooner, integer=integer)
        self.load_columns.append((first, now))
        if switched and load.interruptible:
            self._add_switching(now, first, in_window)
            for index in range(steps):
                was_on = self._was_on(load, index)
                if was_on is not None:
                    self.warm[first + index] = 1.0 if was_on and upper[index] else 0.0
        elif switched:
            self._add_run(now, first, in_window, windows)
        shortfalls: list[int] = []
        for opens, closes in windows:
            shortfalls.append(self._add_need(now, first, opens, closes))
        self.shortfalls.append(shortfalls)
        return first

    def _add_session(self, session: Session) -> int:
        """Add a session's power per step until it departs and its need; return its first column."""
        start, step, steps = self.request.start, self.request.step, self.steps
        inside = [start + index * step < session.departs for index in range(steps)]
        upper = [session.power_w if here else 0.0 for here in inside]
        sooner = [
            SOONER_COST_PER_KWH * (steps - index) * self.hours / 1000
            for index in range(steps)
        ]
        first = self.model.add(steps, 0.0, upper, sooner)
        self.session_columns.append((first, session))
        end = start + steps * step
        after = max(session.departs - end, timedelta(0)) / timedelta(hours=1)
        need = max(session.need_wh, 0.0)
        must = max(0.0, need - session.power_w * after)
        indices = [index for index, here in enumerate(inside) if here]
        shortfall = self.model.add(1, 0.0, INFINITY, SHORTFALL_PRICE / 1000)
        self.model.row(
            [first + i for i in indices] + [shortfall],
            [self.hours] * len(indices) + [1.0],
            lower=must,
        )
        if indices:
            self.model.row(
                [first + i for i in indices], [self.hours] * len(indices), upper=need
            )
        return first

    def _was_on(self, load: FlexibleLoad, index: int) -> bool | None:
        """Return whether the previous plan had the load on in step ``index``."""
        previous = self.request.previous
        if previous is None or load.name not in previous.loads:
            return None
        moment = self.request.start + index * self.request.step
        slot = previous.at(moment)
        if slot is None or previous.step != self.request.step:
            return None
        return previous.loads[load.name].power_w[slot] > 0

    def _add_need(
        self, now: LoadNow, first: int, opens: datetime, closes: datetime
    ) -> int:
        """Add one window's need; return its shortfall column."""
        load, step, start = now.load, self.request.step, self.request.start
        end = start + self.steps * step
        need = load.energy_wh_per_day
        if opens <= start:
            need = max(0.0, need - now.delivered_wh)
        after = max(closes - end, timedelta(0)) / timedelta(hours=1)
        must = max(0.0, need - load.power_w * after)
        chunk = load.power_w * self.hours
        most = need
        if load.control is LoadControl.SWITCH:
            most = math.ceil(need / chunk - 1e-9) * chunk
        indices = [
            index
            for index in range(self.steps)
            if opens <= start + index * step < closes
        ]
        scale = self._scale(load) * self.hours
        shortfall = self.model.add(1, 0.0, INFINITY, SHORTFALL_PRICE / 1000)
        self.model.row(
            [first + i for i in indices] + [shortfall],
            [scale] * len(indices) + [1.0],
            lower=must,
        )
        if indices:
            if opens <= start and load.control is LoadControl.SWITCH:
                # Beyond the need where the state carried in forces it.
                forced = sum(1 for i in self._owed_on(now) if i in indices)
                most = max(most, forced * chunk)
            self.model.row(
                [first + i for i in indices], [scale] * len(indices), upper=most
            )
        return shortfall

    def _owed_on(self, now: LoadNow) -> range:
        """Return the steps a load that is on must stay on (its minimum on time)."""
        if not now.is_on:
            return range(0)
        load = now.load
        min_on = (
            load.min_on if load.interruptible else max(load.min_on, load.run_length)
        )
        owed = min_on - now.in_state_for
        return range(min(self.steps, math.ceil(owed / self.request.step - 1e-9)))

    def _add_switching(
        self,
        now: LoadNow,
        first: int,
        in_window: list[bool],
    ) -> None:
        """Add starts and stops with the minimum on and off times."""
        load, step, steps = now.load, self.request.step, self.steps
        starts = self.model.add(steps, 0.0, 1.0)
        stops = self.model.add(steps, 0.0, 1.0)
        was = 1.0 if now.is_on else 0.0
        for index in range(steps):
            state, before = first + index, first + index - 1
            if index == 0:
                # start >= x0 - was; stop >= was - x0
                self.model.row([starts, state], [1.0, -1.0], lower=-was)
                self.model.row([stops, state], [1.0, 1.0], lower=was)
            else:
                self.model.row(
                    [starts + index, state, before], [1.0, -1.0, 1.0], lower=0.0
                )
                self.model.row(
                    [stops + index, state, before], [1.0, 1.0, -1.0], lower=0.0
                )
        on_steps = math.ceil(load.min_on / step - 1e-9)
        off_steps = math.ceil(load.min_off / step - 1e-9)
        for index in range(steps):
            if on_steps > 1:
                back = range(max(0, index - on_steps + 1), index + 1)
                self.model.row(
                    [first + index, *(starts + b for b in back)],
                    [1.0, *(-1.0 for _ in back)],
                    lower=0.0,
                )
            if off_steps > 1:
                back = range(max(0, index - off_steps + 1), index + 1)
                self.model.row(
                    [first + index, *(stops + b for b in back)],
                    [1.0, *(1.0 for _ in back)],
                    upper=1.0,
                )
        # What the state carried in still owes its minimum time.
        owed = (load.min_on if now.is_on else load.min_off) - now.in_state_for
        for index in range(min(steps, math.ceil(owed / step - 1e-9))):
            if now.is_on and in_window[index]:
                self.model.fix(first + index, 1.0, 1.0)
            elif not now.is_on:
                self.model.fix(first + index, 0.0, 0.0)

    def _add_run(
        self,
        now: LoadNow,
        first: int,
        in_window: list[bool],
        windows: list[tuple[datetime, datetime]],
    ) -> None:
        """Add an uninterrupted run: one start binary per step it may start at.

        The run is on in a step exactly when it started within its length
        before (a sum of starts: its state needs no binary of its own, and
        the relaxation knows each run is whole). It starts at most once per
        window, early enough to end in it; two runs lie at least their
        length and the minimum off time apart. A run carried in goes on for
        what it still owes, and its window gets no other.
        """
        load, step, start = now.load, self.request.step, self.request.start
        length = math.ceil(max(load.min_on, load.run_length) / step - 1e-9)
        off_steps = math.ceil(load.min_off / step - 1e-9)
        owed = [index for index in self._owed_on(now) if in_window[index]]
        if now.is_on:
            earliest = len(owed) + off_steps
        else:
            earliest = max(
                0, math.ceil((load.min_off - now.in_state_for) / step - 1e-9)
            )
        by_step: dict[int, int] = {}
        for opens, closes in windows:
            if now.is_on and opens <= start:
                continue
            last = math.floor((closes - start) / step + 1e-9) - length
            allowed = [
                index
                for index in range(earliest, min(last + 1, self.steps))
                if start + index * step >= opens
            ]
            if not allowed:
                continue
            column = self.model.add(len(allowed), 0.0, 1.0, integer=True)
            columns = list(range(column, column + len(allowed)))
            self.model.row(columns, [1.0] * len(columns), upper=1.0)
            by_step.update(zip(allowed, columns, strict=True))
        for index, column in by_step.items():
            was_on, before = self._was_on(load, index), self._was_on(load, index - 1)
            if was_on is not None and before is not None:
                self.warm[column] = 1.0 if was_on and not before else 0.0
        for index in range(self.steps):
            recent = [
                by_step[b] for b in range(index - length + 1, index + 1) if b in by_step
            ]
            carried = 1.0 if index in owed else 0.0
            self.model.row(
                [first + index, *recent],
                [1.0, *(-1.0 for _ in recent)],
                lower=carried,
                upper=carried,
            )
            near = [
                by_step[b]
                for b in range(index - length - off_steps + 1, index + 1)
                if b in by_step
            ]
            if off_steps and len(near) > 1:
                self.model.row(near, [1.0] * len(near), upper=1.0)

    def _add_battery(self, power_terms: list[list[tuple[int, float]]]) -> int | None:
        """Add the battery's charge, discharge and energy; return its first column."""
        battery = self.request.battery
        if battery is None:
            return None
        steps, hours, eff = self.steps, self.hours, battery.efficiency
        cost = self.weight * BATTERY_COST_PER_KWH / 1000 * hours
        charge_w = battery.power_w if battery.charge_w is None else battery.charge_w
        charge = self.model.add(steps, 0.0, charge_w, cost)
        discharge = self.model.add(steps, 0.0, battery.power_w, cost)
        # Energy after each step; the last is worth what exporting it would
        # earn at the least: more, and the plan would hoard against a future
        # it does not see (the next plan sees further).
        worth = min(self.exports) * eff / 1000
        energy = self.model.add(
            steps,
            battery.reserve_wh,
            battery.capacity_wh,
            [0.0] * (steps - 1) + [-self.weight * worth],
        )
        rows: list[int] = []
        for index in range(steps):
            columns = [energy + index, charge + index, discharge + index]
            values = [1.0, -eff * hours, hours / eff]
            if index == 0:
                level = min(max(battery.energy_wh, 0.0), battery.capacity_wh)
                row = self.model.row(columns, values, lower=level, upper=level)
            else:
                row = self.model.row(
                    [*columns, energy + index - 1],
                    [*values, -1.0],
                    lower=0.0,
                    upper=0.0,
                )
            rows.append(row)
            power_terms[index].append((charge + index, 1.0))
            power_terms[index].append((discharge + index, -1.0))
        self.energy_rows.append(rows)
        return charge

    def _shared_steps(self) -> int:
        """Return how many first steps the battery does alike in every scenario.

        Up to the next change of the import price: until then nothing tells
        the scenarios apart (the day's sun shows after the night's cheap
        hours), and a plan free to charge per scenario in a later step of the
        same price would put off, step by step, what it must do now.
        """
        first = self.imports[0]
        for index, price in enumerate(self.imports):
            if abs(price - first) > 1e-9:
                return max(index, 1)
        return self.steps

    def _share_steps(self, first: int, other: int) -> None:
        """Give a scenario's battery the first scenario's power in the shared steps."""
        steps = self.steps
        for index in range(self._shared_steps()):
            for column in (index, steps + index):
                self.model.row(
                    [other + column, first + column],
                    [1.0, -1.0],
                    lower=0.0,
                    upper=0.0,
                )

    def _periods(self) -> list[list[int]]:
        """Return the steps of each netting period, in order."""
        tariff, start, step = self.request.tariff, self.request.start, self.request.step
        periods: list[list[int]] = []
        last: datetime | None = None
        for index in range(self.steps):
            begins = tariff.period_start(start + index * step)
            if not tariff.netting_minutes or begins != last:
                periods.append([])
                last = begins
            periods[-1].append(index)
        return periods

    def _add_periods(
        self, power_terms: list[list[tuple[int, float]]], base_w: Sequence[float]
    ) -> list[tuple[list[int], int]]:
        """Add each period's net import and export; return them with their steps."""
        periods: list[tuple[list[int], int]] = []
        for number, indices in enumerate(self._periods()):
            price_in = self.imports[indices[0]] / 1000
            price_out = self.exports[indices[0]] / 1000
            columns = self.model.add(
                2,
                0.0,
                INFINITY,
                [self.weight * price_in, -self.weight * price_out],
            )
            base = sum(base_w[i] for i in indices) * self.hours
            if number == 0 and self.request.tariff.netting_minutes:
                base += self.request.period_so_far_wh
            terms = [term for i in indices for term in power_terms[i]]
            self.model.row(
                [c for c, _ in terms] + [columns, columns + 1],
                [v * self.hours for _, v in terms] + [-1.0, 1.0],
                lower=-base,
                upper=-base,
            )
            periods.append((indices, columns))
        return periods

    def _add_demand(
        self,
        power_terms: list[list[tuple[int, float]]],
        base_w: Sequence[float],
        peaks: dict[str, tuple[int, float]],
    ) -> None:
        """Add each step's import and each billing period's peak (to ``peaks``).

        Each peak comes with the peak already billed (its lowest value); it
        is one for every scenario: at least each one's intervals' import.
        """
        request, tariff = self.request, self.request.tariff
        if tariff.demand_charge_per_kw <= 0:
            return
        step_s = request.step.total_seconds()
        interval_s = tariff.billing_interval.total_seconds()
        imports = self.model.add(self.steps)
        intervals: dict[datetime, list[int]] = {}
        for index in range(self.steps):
            terms = power_terms[index]
            # import >= base + loads + battery (and >= 0, its bound)
            self.model.row(
                [imports + index, *(c for c, _ in terms)],
                [1.0, *(-v for _, v in terms)],
                lower=base_w[index],
            )
            moment = request.start + index * request.step
            intervals.setdefault(interval_start_of(moment, interval_s), []).append(
                index
            )
        first_key = billing_period_key(
            request.start, tariff.billing_period, request.timezone
        )
        price = tariff.demand_charge_per_kw / 1000
        for begins, indices in intervals.items():
            key = billing_period_key(begins, tariff.billing_period, request.timezone)
            if key not in peaks:
                billed = request.billed_peak_w if key == first_key else 0.0
                peaks[key] = (self.model.add(1, billed, INFINITY, price), billed)
            peak, _ = peaks[key]
            # The interval's average import over its whole length (the plan
            # may cover only part of it: the part before counts what it did).
            share = step_s / max(interval_s, step_s)
            before = 0.0
            if begins <= request.start:
                before = (
                    request.interval_import_so_far_wh * 3600 / max(interval_s, step_s)
                )
            self.model.row(
                [peak, *(imports + i for i in indices)],
                [1.0, *(-share for _ in indices)],
                lower=before,
            )

    def _read(
        self,
        solution: Solution,
        batteries: list[int],
        periods: list[list[tuple[list[int], int]]],
        peaks: list[tuple[int, float]],
    ) -> Plan:
        """Read the solved values into a plan (over scenarios, their mean)."""
        values, steps, weight = solution.values, self.steps, self.weight
        loads: dict[str, LoadPlan] = {}
        grid = [
            weight * sum(base[index] for base in self.bases) for index in range(steps)
        ]
        for (first, now), shortfalls in zip(
            self.load_columns, self.shortfalls, strict=True
        ):
            scale = self._scale(now.load)
            power = [float(values[first + i]) * scale for i in range(steps)]
            if now.load.control is LoadControl.SWITCH:
                power = [
                    now.load.power_w if p > now.load.power_w / 2 else 0.0 for p in power
                ]
            loads[now.load.name] = LoadPlan(
                power, sum(float(values[s]) for s in shortfalls)
            )
            grid = [g + p for g, p in zip(grid, power, strict=True)]
        sessions: dict[str, list[float]] = {}
        for first, session in self.session_columns:
            power = [float(values[first + i]) for i in range(steps)]
            sessions[session.name] = power
            grid = [g + p for g, p in zip(grid, power, strict=True)]
        battery_w = [0.0] * steps
        for battery in batteries:
            battery_w = [
                b + weight * float(values[battery + i] - values[battery + steps + i])
                for i, b in enumerate(battery_w)
            ]
        grid = [g + b for g, b in zip(grid, battery_w, strict=True)]
        period_net = [0.0] * len(periods[0])
        cost = 0.0
        for scenario in periods:
            nets = [
                float(values[columns] - values[columns + 1]) for _, columns in scenario
            ]
            period_net = [
                total + weight * net
                for total, net in zip(period_net, nets, strict=True)
            ]
            cost += weight * sum(
                self.imports[indices[0]] / 1000 * max(net, 0.0)
                - self.exports[indices[0]] / 1000 * max(-net, 0.0)
                for (indices, _), net in zip(scenario, nets, strict=True)
            )
        tariff = self.request.tariff
        demand = sum(
            tariff.demand_cost(float(values[column]) - billed)
            for column, billed in peaks
        )
        return Plan(
            self.request.start,
            self.request.step,
            loads,
            battery_w,
            grid,
            cost + demand,
            solution.optimal,
            solution.seconds,
            period_net,
            [
                self.request.start + (indices[-1] + 1) * self.request.step
                for indices, _ in periods[0]
            ],
            energy_cost=cost,
            demand_cost=demand,
            billed_peak_w=float(values[peaks[0][0]]) if peaks else 0.0,
            stored_value=self._stored_value(solution),
            sessions=sessions,
            import_price=list(self.imports),
        )

    def _stored_value(self, solution: Solution) -> list[float]:
        """Return each step's value of one more kWh stored (empty when unknown).

        The dual of a step's energy balance is what one more Wh put into
        the battery in that step would change the plan's cost by: its
        negative is the stored energy's worth. Over scenarios (each weighed
        in the cost), the sum of theirs: one more Wh in every one.
        """
        duals = solution.row_duals
        if duals is None or not self.energy_rows:
            return []
        return [
            max(-sum(float(duals[row]) for row in rows) * 1000, 0.0)
            for rows in zip(*self.energy_rows, strict=True)
        ]
