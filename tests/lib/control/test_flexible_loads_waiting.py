"""A planned run waits where the surplus it counted on did not come and waiting is free."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    FlexibleLoad,
    LoadReason,
    Plan,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.netting import (
    LoadDecision,
    LoadLive,
    decide,
    project,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.planner import (
    LoadPlan,
)

START = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
TICK = timedelta(minutes=5)
STEPS = 8
HEATER = FlexibleLoad(
    "water_heater",
    3000.0,
    6000.0,
    min_on=timedelta(minutes=15),
    min_off=timedelta(minutes=15),
)


def _plan(
    *,
    surplus_w: float = 2000.0,
    prices: list[float] | None = None,
    battery_w: float = 0.0,
) -> Plan:
    """Return a plan running the heater in its first step on a forecast surplus.

    The first step's base is ``-surplus_w`` (the heater imports the rest);
    the later steps import 400 W with the heater off.
    """
    base = [-surplus_w] + [400.0] * (STEPS - 1)
    heater = [3000.0] + [0.0] * (STEPS - 1)
    battery = [battery_w] * STEPS
    grid = [b + h + c for b, h, c in zip(base, heater, battery, strict=True)]
    return Plan(
        START,
        STEP,
        {"water_heater": LoadPlan(heater, 0.0)},
        battery,
        grid,
        0.0,
        True,
        0.0,
        import_price=prices if prices is not None else [0.30] * STEPS,
    )


def _decide(plan: Plan, grid_w: float, *, closes: timedelta) -> LoadDecision:
    """Return the heater's decision at the plan's start with the grid at ``grid_w``."""
    live = LoadLive(HEATER, 0.0, None, 750.0, START + closes)
    projection = project(START, START + STEP, 0.0, grid_w)
    [decision] = decide(START, projection, [live], plan, TICK)
    return decision


def test_the_run_waits_where_the_sun_it_counted_on_did_not_come() -> None:
    """A flat price, need to spare later: with no surplus now the heater waits."""
    decision = _decide(_plan(), 400.0, closes=2 * timedelta(hours=1))
    assert (decision.power_w, decision.reason) == (0.0, LoadReason.WAITING)


def test_the_run_goes_ahead_where_enough_of_the_surplus_came() -> None:
    """1.2 kW of the 2 kW surplus the plan counted on is there: the plan's run holds."""
    decision = _decide(_plan(), -1200.0, closes=2 * timedelta(hours=1))
    assert (decision.power_w, decision.reason) == (3000.0, LoadReason.CHEAP_HOUR)
    # Less than half of it: the run waits.
    decision = _decide(_plan(), -900.0, closes=2 * timedelta(hours=1))
    assert decision.reason is LoadReason.WAITING


def test_the_run_does_not_wait_where_waiting_costs() -> None:
    """Dearer later, a window too short for the need, or a plain import run: it runs."""
    dearer = _plan(prices=[0.30] + [0.40] * (STEPS - 1))
    decision = _decide(dearer, 400.0, closes=2 * timedelta(hours=1))
    assert decision.reason is LoadReason.CHEAP_HOUR
    # 25 minutes left: 10 after this step, less than the 15 the need takes.
    decision = _decide(_plan(), 400.0, closes=timedelta(minutes=25))
    assert decision.reason is LoadReason.CHEAP_HOUR
    # No surplus planned in the step: the plan's run on import stands.
    decision = _decide(_plan(surplus_w=-400.0), 400.0, closes=2 * timedelta(hours=1))
    assert decision.reason is LoadReason.CHEAP_HOUR


def test_a_plan_with_a_battery_is_followed() -> None:
    """A battery behind the meter takes the surplus the meter would show: no waiting."""
    decision = _decide(_plan(battery_w=500.0), 400.0, closes=2 * timedelta(hours=1))
    assert decision.reason is LoadReason.CHEAP_HOUR


def test_a_plan_under_a_demand_charge_is_followed() -> None:
    """Later, the run may land on the billed peak: under a demand charge it runs.

    Measured on the EMHASS year's car set: waiting there raised the billed
    peak from 3.5 to 4.9 kW.
    """
    # The plan raises no peak (no demand cost of its own): the one billed holds.
    billed = replace(_plan(), demand_cost=0.0, billed_peak_w=3400.0)
    decision = _decide(billed, 400.0, closes=2 * timedelta(hours=1))
    assert decision.reason is LoadReason.CHEAP_HOUR
