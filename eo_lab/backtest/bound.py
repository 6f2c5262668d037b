"""``eo backtest-bound``: how much of the optimum a controller seeing only the past can reach.

``optimal`` in ``eo backtest`` knows the whole profile; no controller in a
house does. Where a profile holds a surprise (a night twice as heavy as any
before it), no controller can come near the optimum there, however good.
This module says how near one can come: the highest share of the optimal's
peak reduction that *any* controller seeing only the past can be sure of
on a measured profile. With it, a controller's own shortfall can be told
apart from the profile's surprise.

The argument. Up to a moment, the past cannot tell which future comes. A
*branch* is the measured profile up to a branch point, followed by the 24
hours before that point repeated: the future the site's own history
forecasts. A controller that sees only the past acts alike on the measured
profile and on a branch until the branch leaves it, so its share on the
worst of them is at most what is computed here:

- between two branch points it bills some peak; for a given peak, the
  battery that discharges only what exceeds it and charges whenever the
  grid is below it has the most energy at the next branch point (every
  other schedule under that peak has less, step by step);
- after a branch point it is handed the branch's future: the lowest peak
  its energy can then hold, known exactly (up to ``lookahead``; a shorter
  future can only need less).

The bound limits the worst of the measured profile and its branches, not
the measured profile alone: a controller may do better there by doing worse
on a branch. So it also answers the other question, with
``measured_share``: among the controllers that reach that share on the
measured profile, the best they can have on the worst branch. Where that is
about the bound, the past rules out nothing there; where it is far below,
reaching the share means betting on the one future that came.

A dynamic programme over the branch points keeps the states no other state
beats (billed peak, worst share so far, energy) and returns the best worst
share. Billed peaks lie on a grid of ``level_step_w``: a controller between
two grid levels is credited the lower one with the higher one's energy, and
stored energy is rounded up (to a 4000th of the battery between branch
points, a 400th for the futures), so the figure errs on the controller's
side and stays a bound.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
import math
from typing import Any

from custom_components.energy_orchestrator.lib.control.energy_planner import (
    BatteryLimits,
    hold,
    plan_peak,
)
from eo_lab.backtest.profile import Series, interval_averages, split_warmup

DAY = timedelta(days=1)
LOOKAHEAD = timedelta(days=7)
LEVEL_STEP_W = 10.0
# Stored energy is rounded up to these shares of the battery: finely between
# branch points (the rounding adds up over them), coarser for the futures
# (each energy there costs a plan).
STATE_QUANTUM_SHARE = 1 / 4000
FUTURE_QUANTUM_SHARE = 1 / 400
# The planner's bisection stops this close above the lowest peak.
PLAN_TOLERANCE_W = 0.5


@dataclass(frozen=True)
class Reduction:
    """One profile's peaks without a battery and with perfect foresight."""

    none_peak_w: float
    optimal_peak_w: float

    def share(self, peak_w: float) -> float:
        """Return the share of the optimal's reduction that ``peak_w`` reaches."""
        if self.none_peak_w - self.optimal_peak_w < 1e-6:
            # Nothing for a battery to shave: every controller reaches it.
            return 1.0
        return (self.none_peak_w - peak_w) / (self.none_peak_w - self.optimal_peak_w)


@dataclass(frozen=True)
class Branch:
    """A branch: where it leaves the measured profile, and its peaks."""

    at: datetime
    reduction: Reduction


@dataclass(frozen=True)
class CausalBound:
    """The bound, the profiles it was taken over, and the path that reaches it."""

    # The best worst share: over the measured profile and every branch, or,
    # where ``measured_share`` is set, over the branches among controllers
    # that reach it on the measured profile.
    share: float
    measured: Reduction
    branches: tuple[Branch, ...]
    # The billed peak at each branch point on the path that reaches the bound.
    billed_peak_w: tuple[float, ...]
    # The measured profile judged: the scored part, in whole billing intervals.
    scored_from: datetime
    scored_to: datetime
    measured_share: float | None = None
    # How far past each branch point its future was judged.
    lookahead: timedelta = LOOKAHEAD

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as plain JSON values."""
        return {
            "scored_from": self.scored_from.isoformat(),
            "scored_to": self.scored_to.isoformat(),
            "share": round(self.share, 4),
            "measured_share": self.measured_share,
            "none_peak_w": round(self.measured.none_peak_w, 1),
            "optimal_peak_w": round(self.measured.optimal_peak_w, 1),
            "branches": [
                {
                    "at": branch.at.isoformat(),
                    "none_peak_w": round(branch.reduction.none_peak_w, 1),
                    "optimal_peak_w": round(branch.reduction.optimal_peak_w, 1),
                    "billed_peak_w": round(billed, 1),
                }
                for branch, billed in zip(
                    self.branches, self.billed_peak_w, strict=True
                )
            ],
        }


class _Continuation:
    """The lowest peak a future can be held at, by the energy it starts with."""

    def __init__(
        self,
        start: datetime,
        interval: timedelta,
        values: Sequence[float],
        battery: BatteryLimits,
    ) -> None:
        """Keep the future; peaks are planned when first asked for."""
        self._start = start
        self._interval = interval
        self._values = values
        self._battery = battery
        self._peaks: dict[int, float] = {}

    def peak_w(self, energy_wh: float) -> float:
        """Return the lowest peak holdable from ``energy_wh`` (rounded up)."""
        quantum = self._battery.capacity_wh * FUTURE_QUANTUM_SHARE
        bucket = _bucket(energy_wh, quantum)
        peak = self._peaks.get(bucket)
        if peak is None:
            if not self._values:
                peak = 0.0
            else:
                energy = min(bucket * quantum, self._battery.energy_max_wh)
                peak = (
                    plan_peak(
                        self._start,
                        self._interval,
                        self._values,
                        self._battery,
                        energy,
                        tolerance_w=PLAN_TOLERANCE_W,
                    ).peak_w
                    - PLAN_TOLERANCE_W
                )
            self._peaks[bucket] = peak
        return peak


@dataclass(frozen=True)
class _State:
    """A controller's position at a branch point on the measured profile."""

    level: int  # billed peak, in level steps
    worst: float  # the worst share on the branches left so far
    energy_bucket: int  # stored energy, rounded up, in state quanta
    parent: int  # index in the previous branch point's states (-1 at the start)


class _SuffixMax:
    """Max over the buckets from an index up (a Fenwick tree on reversed indices)."""

    def __init__(self, size: int) -> None:
        """Start with every bucket at minus infinity."""
        self._size = size
        self._tree = [-math.inf] * (size + 1)

    def raise_to(self, index: int, value: float) -> None:
        """Raise bucket ``index`` to at least ``value``."""
        position = self._size - index
        while position <= self._size:
            self._tree[position] = max(self._tree[position], value)
            position += position & -position

    def from_index(self, index: int) -> float:
        """Return the max over buckets ``index`` .. last."""
        position = self._size - index
        best = -math.inf
        while position > 0:
            best = max(best, self._tree[position])
            position -= position & -position
        return best


def _bucket(energy_wh: float, quantum_wh: float) -> int:
    """Return the energy's bucket of ``quantum_wh``, rounding up."""
    return math.ceil(energy_wh / max(quantum_wh, 1e-9) - 1e-9)


def _unbeaten(states: list[_State], buckets: int) -> list[_State]:
    """Return the states no other beats (lower or equal peak, share and energy)."""
    best: dict[tuple[int, int], _State] = {}
    for state in states:
        key = (state.level, state.energy_bucket)
        kept = best.get(key)
        if kept is None or state.worst > kept.worst:
            best[key] = state
    ordered = sorted(best.values(), key=lambda s: (s.level, -s.energy_bucket))
    front = _SuffixMax(buckets)
    unbeaten: list[_State] = []
    for state in ordered:
        if front.from_index(state.energy_bucket) >= state.worst:
            continue
        unbeaten.append(state)
        front.raise_to(state.energy_bucket, state.worst)
    return unbeaten


def _reduction(
    start: datetime,
    interval: timedelta,
    values: Sequence[float],
    battery: BatteryLimits,
) -> Reduction:
    """Return a whole profile's peak without a battery and its optimum."""
    return Reduction(
        none_peak_w=max(*values, 0.0),
        optimal_peak_w=plan_peak(
            start, interval, values, battery, battery.energy_max_wh
        ).peak_w,
    )


def causal_bound(
    series: Series,
    battery: BatteryLimits,
    *,
    interval: timedelta,
    branch_from: datetime,
    branch_to: datetime,
    branch_every: timedelta = timedelta(hours=1),
    level_step_w: float = LEVEL_STEP_W,
    lookahead: timedelta = LOOKAHEAD,
    measured_share: float | None = None,
) -> CausalBound:
    """Return the bound over branches every ``branch_every`` from/to the given times.

    The profile is split as ``eo backtest`` splits it (a day of history, the
    rest scored from a full battery). With ``measured_share`` (0 to 1), the
    bound is the branches' among the controllers that reach that share on
    the measured profile: what reaching it there costs where the day before
    repeats. Raise ValueError for branch points outside the scored part,
    steps that are not whole intervals, or a share outside 0-1.
    """
    if interval.total_seconds() % series.step.total_seconds():
        raise ValueError(f"the billing interval must be a multiple of {series.step}")
    if DAY.total_seconds() % interval.total_seconds():
        raise ValueError("the billing interval must divide a day")
    if branch_every <= timedelta(0) or branch_every % interval:
        raise ValueError("branches must be a whole number of billing intervals apart")
    if not level_step_w > 0:
        raise ValueError("the level step must be > 0 W")
    if not battery.capacity_wh > 0:
        raise ValueError("the bound needs a battery of more than 0 Wh")
    if measured_share is not None and not 0 <= measured_share <= 1:
        raise ValueError("the measured share must be between 0 and 1")
    per = int(interval / series.step)
    history, scored = split_warmup(series, interval)
    past = interval_averages(history, per)
    measured = interval_averages(scored, per)
    scored_end = scored.start + len(measured) * interval
    if not scored.start < branch_from <= branch_to < scored_end:
        raise ValueError(
            "branch points must lie in the scored part, after "
            f"{scored.start.isoformat()} and before {scored_end.isoformat()}"
        )
    if (branch_from - scored.start) % interval:
        raise ValueError("branch points must start a billing interval")
    first = int((branch_from - scored.start) / interval)
    last = int((branch_to - scored.start) / interval)
    points = list(range(first, last + 1, int(branch_every / interval)))
    per_day = int(DAY / interval)
    ahead = int(lookahead / interval)
    every = past + measured
    branches: list[Branch] = []
    futures: list[_Continuation] = []
    for point in points:
        day = every[len(past) + point - per_day : len(past) + point]
        values = measured[:point] + [
            day[index % per_day] for index in range(len(measured) - point)
        ]
        at = scored.start + point * interval
        branches.append(Branch(at, _reduction(scored.start, interval, values, battery)))
        futures.append(
            _Continuation(at, interval, values[point : point + ahead], battery)
        )
    measured_reduction = _reduction(scored.start, interval, measured, battery)
    futures.append(
        _Continuation(
            scored.start + points[-1] * interval,
            interval,
            measured[points[-1] : points[-1] + ahead],
            battery,
        )
    )
    search = _Search(
        [measured[a:b] for a, b in zip([0, *points], points, strict=False)],
        [branch.reduction for branch in branches] + [measured_reduction],
        futures,
        battery,
        level_step_w=level_step_w,
        step_h=interval.total_seconds() / 3600,
    )
    found = search.best(measured_share)
    if found is None:
        raise ValueError(
            f"no controller reaches {measured_share:.0%} on the measured profile"
        )
    share, path = found
    return CausalBound(
        share=min(share, 1.0),
        measured=measured_reduction,
        branches=tuple(branches),
        billed_peak_w=tuple(path),
        scored_from=scored.start,
        scored_to=scored_end,
        measured_share=measured_share,
        lookahead=lookahead,
    )


class _Search:
    """The dynamic programme over the branch points.

    Stage ``i`` runs the measured segment up to branch point ``i`` and is
    then judged on branch ``i``'s future; the last judgement is the measured
    profile's own future after the last branch point.
    """

    def __init__(
        self,
        segments: list[list[float]],
        reductions: list[Reduction],
        futures: list[_Continuation],
        battery: BatteryLimits,
        *,
        level_step_w: float,
        step_h: float,
    ) -> None:
        """Keep what the stages need."""
        self.segments = segments
        self.reductions = reductions
        self.futures = futures
        self.battery = battery
        self.level_step_w = level_step_w
        self.step_h = step_h
        self.quantum = battery.capacity_wh * STATE_QUANTUM_SHARE
        self.full = _bucket(battery.energy_max_wh, self.quantum)
        # Above the highest net load plus the charger, a level adds no energy.
        highest = max(max(segment, default=0.0) for segment in segments)
        highest += battery.max_charge_w
        self.levels = math.ceil(max(highest, 0.0) / level_step_w) + 1

    def energy_of(self, bucket: int) -> float:
        """Return a bucket's energy: its top, at most the ceiling."""
        return min(bucket * self.quantum, self.battery.energy_max_wh)

    def judged(self, stage: int, level: int, energy_wh: float) -> float:
        """Return the share on stage ``stage``'s future from a billed level and energy.

        The level is credited one step lower: a controller between two grid
        levels bills at least the lower one.
        """
        credited = (level - 1) * self.level_step_w
        peak = max(credited, self.futures[stage].peak_w(energy_wh))
        return self.reductions[stage].share(peak)

    def after_segment(self, stage: int, energy_wh: float, level: int) -> float | None:
        """Return the energy after stage ``stage``'s segment held at a level, None if it cannot be."""
        energies, _, failed = hold(
            self.segments[stage],
            self.step_h,
            self.battery,
            energy_wh=energy_wh,
            peak_w=level * self.level_step_w,
        )
        return None if failed is not None else energies[-1]

    def constant_level_share(
        self, measured_share: float | None
    ) -> tuple[float, int | None]:
        """Return the best share of a controller that bills one level throughout, and the level.

        A path of the programme, so the best share is at least this: states
        below it can go. With ``measured_share``, only levels that reach it
        on the measured profile count, and the share is the branches' (minus
        infinity and None when no level reaches it).
        """
        best: float = -math.inf
        best_level: int | None = None
        for level in range(self.levels + 1):
            energy = self.battery.energy_max_wh
            worst = math.inf
            for stage in range(len(self.segments)):
                after = self.after_segment(stage, energy, level)
                if after is None:
                    break
                energy = after
                worst = min(worst, self.judged(stage, level, energy))
            else:
                on_measured = self.judged(len(self.segments), level, energy)
                if measured_share is None:
                    worst = min(worst, on_measured)
                elif on_measured < measured_share:
                    continue
                if worst > best:
                    best, best_level = worst, level
        return best, best_level

    def level_cap(self, reductions: Sequence[Reduction], floor_share: float) -> int:
        """Return the highest level from which every one of ``reductions`` can still reach ``floor_share``.

        Only the profiles still to be judged are passed: a branch that has
        left was judged on the peak billed when it left.
        """
        cap = self.levels
        if floor_share == -math.inf:
            return cap
        for reduction in reductions:
            span = reduction.none_peak_w - reduction.optimal_peak_w
            if span < 1e-6:
                continue
            highest_peak = reduction.none_peak_w - floor_share * span
            cap = min(cap, math.floor(highest_peak / self.level_step_w) + 1)
        return cap

    def best(self, measured_share: float | None) -> tuple[float, list[float]] | None:
        """Return the best worst share and the billed level at each branch point.

        With ``measured_share``, only controllers reaching that share on the
        measured profile count, and the worst is over the branches alone;
        None when no controller reaches it.
        """
        final = len(self.segments)
        if measured_share is None:
            floor_share, floor_level = self.constant_level_share(None)
            judged = self.reductions
        else:
            floor_share, floor_level = self.constant_level_share(measured_share)
            judged = self.reductions[:final]
        stages: list[list[_State]] = [[_State(0, math.inf, self.full, -1)]]
        for stage in range(final):
            cap = self.level_cap(judged[stage:], floor_share)
            if measured_share is not None:
                cap = min(cap, self.level_cap([self.reductions[final]], measured_share))
            stages.append(self._next_states(stage, stages[-1], cap, floor_share))
        best_share, best_index = self._best_final(
            stages[-1], measured_share, floor_share
        )
        if best_index < 0:
            if floor_level is None:
                return None
            # Nothing beat the one level (rounding can only favour the programme).
            return best_share, [floor_level * self.level_step_w] * final
        path: list[float] = []
        index = best_index
        for states in reversed(stages[1:]):
            path.append(states[index].level * self.level_step_w)
            index = states[index].parent
        return best_share, path[::-1]

    def _next_states(
        self, stage: int, states: Sequence[_State], cap: int, floor_share: float
    ) -> list[_State]:
        """Return the unbeaten states after ``stage``, from each of ``states``."""
        following: list[_State] = []
        for parent, state in enumerate(states):
            start_energy = self.energy_of(state.energy_bucket)
            for level in range(state.level, cap + 1):
                energy = self.after_segment(stage, start_energy, level)
                if energy is None:
                    # No schedule holds this level: the controller bills more.
                    continue
                worst = min(state.worst, self.judged(stage, level, energy))
                if worst >= floor_share:
                    # At most full: float rounding must not make a bucket past it.
                    bucket = min(_bucket(energy, self.quantum), self.full)
                    following.append(_State(level, worst, bucket, parent))
                if energy >= self.battery.energy_max_wh - 1e-6:
                    # A higher level holds no more energy, only a higher peak.
                    break
        return _unbeaten(following, self.full + 1)

    def _best_final(
        self,
        states: Sequence[_State],
        measured_share: float | None,
        floor_share: float,
    ) -> tuple[float, int]:
        """Return the best share over the final states and its index (-1: none beat the floor)."""
        final = len(self.segments)
        best_share, best_index = floor_share, -1
        for index, state in enumerate(states):
            energy = self.energy_of(state.energy_bucket)
            on_measured = self.judged(final, state.level, energy)
            if measured_share is None:
                share = min(state.worst, on_measured)
            elif on_measured >= measured_share:
                share = state.worst
            else:
                continue
            if share >= best_share:
                best_share, best_index = share, index
        return best_share, best_index
