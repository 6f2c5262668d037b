"""The causal bound of ``eo backtest-site``: what a controller seeing only the past can be sure of.

``optimal`` knows the whole profile. As ``eo backtest-bound`` does for peak
shaving, this module asks how much of its saving against ``none`` any
controller that sees only the past can be sure of. A *branch* is the
measured profile up to a branch point (every hour of the scored days),
then the 24 hours before that point repeated: the future the site's own
history forecasts. A controller that sees only the past acts alike on the
measured profile and on every branch until the branch leaves it.

One linear program holds the measured profile and every branch, each with
its loads, battery, netting periods and demand charge, the branch's steps
before its branch point tied to the measured profile's (the same loads'
energy, the same battery's charge and discharge), and maximises the worst
share of the saving over all of them: each share against that profile's
own ``none`` and its own optimum. The program is the relaxation of
``optimal``'s (loads take any energy up to their power in a step: no
switch, no minimum times), for every profile and every optimum alike, so
the shares are of the relaxed optimum's saving; no controller's worst share
of it is higher.

What it limits is the worst of the measured profile and its branches, not
the measured profile alone (a controller may do better there by doing
worse on a branch): where it is below 90 %, no controller can be sure of
90 % there.
"""

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from custom_components.energy_orchestrator.lib.control.flexible_loads.milp import (
    INFINITY,
    Model,
    SolveError,
)
from eo_lab.backtest.profile import Series
from eo_lab.backtest.site_config import Site
from eo_lab.backtest.site_optimal import OptimalProgram, optimal_program
from eo_lab.backtest.site_replay import Scored, replay, scored_days
from eo_lab.backtest.site_strategies import Timer

DAY = timedelta(days=1)
BRANCH_EVERY = timedelta(hours=1)
# A profile with less to save than this (currency units) is not judged.
LEAST_SAVING = 1e-3
# The one program of every branch gets this long (s).
BOUND_TIME_LIMIT_S = 600.0


def causal_site_bound(
    series: Series, site: Site, every: timedelta = BRANCH_EVERY
) -> dict[str, Any]:
    """Return the bound over branches every ``every`` (see the module doc)."""
    measured = scored_days(series, site)
    count = measured.last - measured.first
    step = round(every / series.step)
    points = list(range(step, count, step))
    model = Model()
    worst = model.add(1, -INFINITY, INFINITY, -1.0)
    scenarios: list[tuple[datetime | None, float, float]] = []
    anchor = _add(model, measured, worst, anchor=None, point=None, scenarios=scenarios)
    for point in points:
        branch = scored_days(_branch(series, measured.first + point), site)
        _add(model, branch, worst, anchor=anchor, point=point, scenarios=scenarios)
    try:
        solution = model.solve(time_limit_s=BOUND_TIME_LIMIT_S, mip_rel_gap=0.0)
    except SolveError as err:
        raise ValueError(
            f"the causal bound over {len(points)} branches was not solved: {err}"
            f" (HiGHS stops after {BOUND_TIME_LIMIT_S:.0f} s); score fewer days"
        ) from err
    share = float(solution.values[worst])
    return {
        "share": round(min(share, 1.0), 4),
        "branches": len(points),
        "branch_every_minutes": round(every / timedelta(minutes=1)),
        "relaxed_optimal_cost": round(scenarios[0][2], 4),
        "none_cost": round(scenarios[0][1], 4),
    }


def _branch(series: Series, point: int) -> Series:
    """Return the profile up to step ``point``, then the day before it repeated."""
    per_day = round(DAY / series.step)
    load, pv = list(series.load_w[:point]), list(series.pv_w[:point])
    for index in range(point, len(series.load_w)):
        source = point - per_day + (index - point) % per_day
        load.append(series.load_w[source])
        pv.append(series.pv_w[source])
    return replace(series, load_w=load, pv_w=pv)


def _add(
    model: Model,
    scored: Scored,
    worst: int,
    *,
    anchor: OptimalProgram | None,
    point: int | None,
    scenarios: list[tuple[datetime | None, float, float]],
) -> OptimalProgram:
    """Add one profile's program; its share of the saving is at least ``worst``."""
    none = float(replay(scored, Timer(scored))["cost"])
    alone, left_out = optimal_program(scored, relaxed=True)
    lowest = alone.model.solve(time_limit_s=600.0, mip_rel_gap=0.0)
    optimum = lowest.objective + left_out
    at = None if point is None else scored.moment(scored.first + point)
    scenarios.append((at, none, optimum))
    first = model.columns
    bound, left_out = optimal_program(scored, model, relaxed=True)
    costs = model.take_costs(first, model.columns)
    if anchor is not None and point is not None:
        _tie(model, anchor, bound, point)
    saving = none - optimum
    if saving > LEAST_SAVING:
        # cost + worst * saving <= none
        model.row(
            [*costs, worst],
            [*costs.values(), saving],
            upper=none - left_out,
        )
    return bound


def _tie(
    model: Model, anchor: OptimalProgram, bound: OptimalProgram, point: int
) -> None:
    """Give a branch the measured profile's loads and battery before its point."""
    for name, column in bound.energy.items():
        other = anchor.energy[name]
        for offset in range(point):
            model.row([column + offset, other + offset], [1.0, -1.0], 0.0, 0.0)
    if bound.battery is None:
        return
    count = len(bound.slots)
    for number, slot in enumerate(bound.slots):
        if slot[-1] >= point:
            break
        for column, other in (
            (bound.charge + number, anchor.charge + number),
            (bound.charge + count + number, anchor.charge + count + number),
        ):
            model.row([column, other], [1.0, -1.0], 0.0, 0.0)
