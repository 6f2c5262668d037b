"""The real-time layer: end each netting period near zero, within the plan's needs.

The plan works on 15-minute steps from forecasts; the meter says what the
period really does. Each tick the layer projects the period's net energy to
its end (what the meter counted so far, plus the grid power now until the
end) and:

- switches a load on to soak up a projected export when the export covers
  the load until the period's end (so the period still ends at or below
  zero with it on); higher priority first;
- switches a load off when the period would end importing, lowest priority
  first, and only as many as it takes, unless the plan put it on in a
  cheap hour (it would import then anyway) or its need cannot wait;
- lets the plan's run in a step it imports in wait where less than half
  the surplus the plan counted on there came and the need still fits later
  in its window at no dearer import (``_Tick.can_wait``);
- sets an adjustable load to the power that brings the projection to zero;
- keeps every load's minimum on and off times, lets an uninterrupted run
  finish, stops a load whose need is met or whose window has closed, and
  starts one whose need would otherwise miss its deadline;
- raises no load's import past the site's headroom under the billed peak
  (what peak shaving leaves, or the controller's own meter): a load the
  plan, its need or a projected export would start waits (``peak_limit``),
  higher priority first served, and only one starts a tick (the meter
  shows what it did before the next); where the import is already past
  the peak (a cloud under loads soaking a projected export) loads are shed,
  lowest priority first, their minimum on time notwithstanding; a boost
  (the user's request) and an uninterrupted run go through it, and a need
  that cannot wait is not shed (nor held, where the room is the
  controller's own estimate rather than peak shaving's).

The projection only moves a load when it is past a deadband, a switched
load goes on only when the export covers it to the period's end, and the
minimum times hold every state: no flicker. Without netting, the period is
one tick.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
import math

from .loads import FlexibleLoad, LoadControl
from .planner import Plan

# The period's projected net within this of zero moves nothing (Wh).
DEADBAND_WH = 20.0
# An adjustable load moves only by more than this (W).
ADJUST_STEP_W = 50.0
# A planned run whose step sees less than this share of the surplus the
# plan counted on, where waiting costs nothing, waits.
SURPLUS_CAME_SHARE = 0.5
# Prices closer than this are the same (per kWh).
_PRICE_EPSILON = 1e-9
# A planned battery power within this is idle (W).
_BATTERY_IDLE_W = 1.0


class LoadReason(StrEnum):
    """Why a load is in its state."""

    SOAKING_SURPLUS = "soaking_surplus"
    MEETING_NEED = "meeting_need"
    CHEAP_HOUR = "cheap_hour"
    MIN_ON_TIME = "min_on_time"
    MIN_OFF_TIME = "min_off_time"
    UNINTERRUPTED_RUN = "uninterrupted_run"
    AVOIDING_IMPORT = "avoiding_import"
    WAITING = "waiting"
    NEED_MET = "need_met"
    OUTSIDE_WINDOW = "outside_window"
    BOOST = "boost"
    PEAK_LIMIT = "peak_limit"
    GRID_LIMIT = "grid_limit"


@dataclass(frozen=True)
class LoadLive:
    """A load as the tick finds it."""

    load: FlexibleLoad
    # The power it draws now (W): its power or 0 when switched, its level when adjustable.
    power_w: float
    # When it last changed state (on/off); None when unknown (long ago).
    switched_at: datetime | None
    # Energy still needed in the window open now (Wh); 0 when closed or met.
    remaining_wh: float
    # When the open window closes; None when closed.
    window_closes: datetime | None
    boost: bool = False


@dataclass(frozen=True)
class LoadDecision:
    """What a load is to draw, and why."""

    name: str
    power_w: float
    reason: LoadReason

    @property
    def is_on(self) -> bool:
        """Return whether the load is to draw power."""
        return self.power_w > 0


@dataclass(frozen=True)
class Projection:
    """The period's net energy so far and projected to its end (Wh)."""

    so_far_wh: float
    projected_wh: float
    period_end: datetime
    # The grid power the projection holds (W, + import).
    grid_w: float = 0.0


def project(
    now: datetime,
    period_end: datetime,
    so_far_wh: float,
    grid_w: float,
) -> Projection:
    """Return the period's net projected from the grid power now to its end."""
    hours = max((period_end - now) / timedelta(hours=1), 0.0)
    return Projection(so_far_wh, so_far_wh + grid_w * hours, period_end, grid_w)


class _Tick:
    """One tick's decisions, with the projection they move."""

    def __init__(
        self,
        now: datetime,
        remaining_h: float,
        projection: Projection,
        plan: Plan | None,
        loads_w: float,
    ) -> None:
        """Start from the projection with every load as it is (drawing ``loads_w``)."""
        self.now = now
        self.remaining_h = remaining_h
        self.projected_wh = projection.projected_wh
        self.plan = plan
        self.slot = plan.at(now) if plan is not None else None
        # The site's net load now without the loads: the grid power held, less them.
        self.base_now_w = projection.grid_w - loads_w

    def planned_w(self, load: FlexibleLoad) -> float:
        """Return the plan's power for the load now (0 without a plan)."""
        if self.plan is None or self.slot is None or load.name not in self.plan.loads:
            return 0.0
        return self.plan.loads[load.name].power_w[self.slot]

    def planned_import(self) -> bool:
        """Return whether the plan imports in this step (its loads run on cheap energy)."""
        if self.plan is None or self.slot is None:
            return False
        return self.plan.grid_w[self.slot] > 0

    def can_wait(self, live: LoadLive, tick: timedelta) -> bool:
        """Return whether the plan's run of the load here may wait for a surplus.

        Where the plan runs a load in a step it imports in, partly on a
        forecast surplus, and less than ``SURPLUS_CAME_SHARE`` of that
        surplus is there, the run waits if its need still fits in the later
        steps of its window whose import costs no more than now's (its
        minimum off time lost if it is on): waiting then costs nothing
        (with a flat price, always), and a surplus that comes later is
        soaked up instead of exported. A step with no surplus planned (a
        run on cheap or plain import) does not wait, nor a plan with a
        battery (it takes the surplus behind the meter, which then does not
        show it), nor one under a demand charge (later, the run may land on
        the billed peak).
        """
        plan, slot, closes = self.plan, self.slot, live.window_closes
        if plan is None or slot is None or not plan.import_price or closes is None:
            return False
        if (
            plan.demand_cost > 0
            or plan.billed_peak_w > 0
            or any(abs(power) > _BATTERY_IDLE_W for power in plan.battery_w)
        ):
            return False
        expected_w = max(-plan.base_w(slot), 0.0)
        if max(-self.base_now_w, 0.0) >= SURPLUS_CAME_SHARE * expected_w:
            return False
        price = plan.import_price[slot]
        last = min(math.ceil((closes - plan.start) / plan.step), len(plan.grid_w))
        later = timedelta(0)
        for index in range(slot + 1, last):
            if plan.import_price[index] <= price + _PRICE_EPSILON:
                later += min(plan.step, closes - (plan.start + index * plan.step))
        lost = tick + (live.load.min_off if live.power_w > 0 else timedelta(0))
        need_h = live.remaining_wh / live.load.power_w
        return (later - lost) / timedelta(hours=1) >= need_h

    def held(self, live: LoadLive, minimum: timedelta) -> bool:
        """Return whether the load's state is younger than ``minimum``."""
        return live.switched_at is not None and self.now - live.switched_at < minimum

    def must_run(self, live: LoadLive, tick: timedelta) -> bool:
        """Return whether the need can only be met by running from now on.

        A load that is on counts its minimum off time as lost: switched off
        now, it could not start again before that.
        """
        if live.window_closes is None or live.remaining_wh <= 0:
            return False
        lost = tick + (live.load.min_off if live.power_w > 0 else timedelta(0))
        left_h = (live.window_closes - self.now - lost) / timedelta(hours=1)
        return live.remaining_wh >= live.load.power_w * max(left_h, 0.0)


def decide(
    now: datetime,
    projection: Projection,
    loads: Sequence[LoadLive],
    plan: Plan | None,
    tick: timedelta,
    *,
    headroom_w: float | None = None,
    needs_wait: bool = True,
) -> list[LoadDecision]:
    """Return each load's power and reason for the next tick (see the module doc).

    ``headroom_w`` is the room under the billed peak with the loads as they
    draw now (None: no limit known); with ``needs_wait`` False a need that
    cannot wait goes through it (the room is the controller's own estimate).
    """
    remaining_h = max((projection.period_end - now) / timedelta(hours=1), 0.0)
    remaining_h = max(remaining_h, tick / timedelta(hours=1))
    loads_w = sum(live.power_w for live in loads)
    state = _Tick(now, remaining_h, projection, plan, loads_w)
    decided: dict[str, LoadDecision] = {}
    free: list[LoadLive] = []
    for live in loads:
        fixed = _fixed(state, live, tick)
        if fixed is None:
            free.append(live)
        else:
            decided[live.load.name] = fixed
            state.projected_wh += (fixed.power_w - live.power_w) * remaining_h
    by_priority = sorted(free, key=lambda live: live.load.priority)
    # Off first, lowest priority first, while the period would end importing.
    for live in by_priority:
        decision = _switch_off(state, live)
        if decision is not None:
            decided[live.load.name] = decision
    for live in reversed(by_priority):
        if live.load.name not in decided:
            decided[live.load.name] = _switch_on(state, live)
    if headroom_w is not None:
        through = _THROUGH_PEAK_LIMIT if needs_wait else (*_THROUGH_PEAK_LIMIT, _NEED)
        # A load on whose need would miss its deadline once stopped (its
        # minimum off time lost) is not shed.
        keep = {
            live.load.name
            for live in loads
            if live.power_w > 0 and state.must_run(live, tick)
        }
        hold_within(
            decided,
            loads,
            headroom_w,
            reason=LoadReason.PEAK_LIMIT,
            through=through,
            kept=keep,
            spared=_NOT_SHED,
            one_start=True,
        )
    return [decided[live.load.name] for live in loads]


# What may raise a load's import past the peak's headroom: the user's
# boost and a run that must not stop.
_THROUGH_PEAK_LIMIT = (LoadReason.BOOST, LoadReason.UNINTERRUPTED_RUN)
_NEED = LoadReason.MEETING_NEED
# What stays on when the import is past the peak: those, and a need that
# cannot wait.
_NOT_SHED = (*_THROUGH_PEAK_LIMIT, _NEED)


def hold_within(
    decided: dict[str, LoadDecision],
    loads: Sequence[LoadLive],
    room_w: float,
    *,
    reason: LoadReason,
    through: tuple[LoadReason, ...] = (),
    kept: Collection[str] = (),
    spared: tuple[LoadReason, ...] = (),
    one_start: bool = False,
) -> None:
    """Hold the loads' raises within ``room_w``, higher priority served first.

    A load that does not fit keeps its power (an adjustable one takes what
    fits) for ``reason``; raises for a reason in ``through`` pass. With
    ``one_start`` one load starts a tick (a need that cannot wait aside).
    Where the room is negative (the import past the limit already), loads
    are shed, lowest priority first, but those ``kept`` (by name) and
    those on for a reason in ``spared``.
    """
    by_priority = sorted(loads, key=lambda live: live.load.priority, reverse=True)
    room = _hold_raises(
        decided,
        by_priority,
        room_w,
        reason=reason,
        through=through,
        one_start=one_start,
    )
    for live in reversed(by_priority):
        if room >= 0:
            return
        decision = decided[live.load.name]
        if decision.power_w <= 0 or decision.reason in spared or live.load.name in kept:
            continue
        level = 0.0
        if live.load.control is LoadControl.ADJUSTABLE:
            level = max(decision.power_w + room, 0.0)
            level = level if level >= ADJUST_STEP_W else 0.0
        room += decision.power_w - level
        decided[live.load.name] = LoadDecision(live.load.name, level, reason)


def _hold_raises(
    decided: dict[str, LoadDecision],
    by_priority: Sequence[LoadLive],
    room_w: float,
    *,
    reason: LoadReason,
    through: tuple[LoadReason, ...],
    one_start: bool,
) -> float:
    """Hold each raise that does not fit (see ``hold_within``); return the room left."""
    room = room_w
    started = False
    for live in by_priority:
        decision = decided[live.load.name]
        raise_w = decision.power_w - live.power_w
        if raise_w <= 0 or decision.reason in through:
            continue
        starting = one_start and live.power_w <= 0 and decision.reason is not _NEED
        if raise_w <= room and not (starting and started):
            room -= raise_w
            started = started or starting
            continue
        held = live.power_w
        if live.load.control is LoadControl.ADJUSTABLE and room >= ADJUST_STEP_W:
            held += room
        room -= held - live.power_w
        decided[live.load.name] = LoadDecision(live.load.name, held, reason)
    return room


def _fixed(state: _Tick, live: LoadLive, tick: timedelta) -> LoadDecision | None:
    """Return the decision the load's own limits make, None when the period decides."""
    load, on = live.load, live.power_w > 0
    name = load.name
    if live.window_closes is None:
        return LoadDecision(name, 0.0, LoadReason.OUTSIDE_WINDOW)
    if live.remaining_wh <= 0:
        return LoadDecision(name, 0.0, LoadReason.NEED_MET)
    top = _top_w(state, live)
    if on and not load.interruptible:
        return LoadDecision(name, top, LoadReason.UNINTERRUPTED_RUN)
    if live.boost:
        return LoadDecision(name, top, LoadReason.BOOST)
    if on and state.held(live, load.min_on):
        return LoadDecision(name, live.power_w, LoadReason.MIN_ON_TIME)
    if not on and state.held(live, load.min_off):
        return LoadDecision(name, 0.0, LoadReason.MIN_OFF_TIME)
    if state.must_run(live, tick):
        return LoadDecision(name, top, LoadReason.MEETING_NEED)
    planned = state.planned_w(load)
    if planned > 0 and state.planned_import() and not state.can_wait(live, tick):
        return LoadDecision(name, max(planned, live.power_w), LoadReason.CHEAP_HOUR)
    return None


def _top_w(state: _Tick, live: LoadLive) -> float:
    """Return the most the load should draw: its power, or its remaining need's worth."""
    if live.load.control is LoadControl.SWITCH:
        return live.load.power_w
    return min(live.load.power_w, live.remaining_wh / state.remaining_h)


def _switch_off(state: _Tick, live: LoadLive) -> LoadDecision | None:
    """Lower a load while the period would end importing; None to leave it to ``on``."""
    if live.power_w <= 0 or state.projected_wh <= DEADBAND_WH:
        return None
    name = live.load.name
    if live.load.control is LoadControl.ADJUSTABLE:
        level = max(0.0, live.power_w - state.projected_wh / state.remaining_h)
        if live.power_w - level < ADJUST_STEP_W and level > 0:
            return None
        state.projected_wh -= (live.power_w - level) * state.remaining_h
        reason = LoadReason.SOAKING_SURPLUS if level > 0 else LoadReason.AVOIDING_IMPORT
        return LoadDecision(name, level, reason)
    state.projected_wh -= live.power_w * state.remaining_h
    return LoadDecision(name, 0.0, LoadReason.AVOIDING_IMPORT)


def _switch_on(state: _Tick, live: LoadLive) -> LoadDecision:
    """Raise a load as far as the projected export covers it to the period's end."""
    load, name = live.load, live.load.name
    spare_w = -state.projected_wh / state.remaining_h
    if load.control is LoadControl.ADJUSTABLE:
        top = _top_w(state, live)
        level = min(top, max(0.0, live.power_w + spare_w))
        if abs(level - live.power_w) < ADJUST_STEP_W and not (
            level == 0 < live.power_w
        ):
            level = live.power_w
        state.projected_wh += (level - live.power_w) * state.remaining_h
        reason = LoadReason.SOAKING_SURPLUS if level > 0 else LoadReason.WAITING
        return LoadDecision(name, level, reason)
    if live.power_w > 0:
        # On and the period not importing past the deadband: it keeps soaking.
        return LoadDecision(name, live.power_w, LoadReason.SOAKING_SURPLUS)
    if spare_w >= load.power_w:
        state.projected_wh += load.power_w * state.remaining_h
        return LoadDecision(name, load.power_w, LoadReason.SOAKING_SURPLUS)
    return LoadDecision(name, 0.0, LoadReason.WAITING)
