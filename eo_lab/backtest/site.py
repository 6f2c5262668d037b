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
  possible stands for it (``proven`` false): a bound still. Where the site
  has switched loads only (no battery, car, demand charge or uninterrupted
  run), a dynamic program over the netting periods solves the same problem
  exactly instead (``site_exact``);
- ``foresight`` (on request): the orchestrator given the real future as
  its forecast.
- ``scenarios`` (on request, not printed by ``eo backtest-site``): the
  orchestrator planning over each past day as a scenario of the net load.
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
from datetime import UTC
from typing import Any

from eo_lab.backtest.profile import Series
from eo_lab.backtest.site_battery import PricePlanStrategy
from eo_lab.backtest.site_config import Site
from eo_lab.backtest.site_optimal import solve_optimal
from eo_lab.backtest.site_replay import Scored, Strategy, replay, scored_days
from eo_lab.backtest.site_strategies import (
    Foresight,
    Independent,
    Instant,
    Orchestrator,
    ScenarioOrchestrator,
    Timer,
)

STRATEGIES = ("none", "instant", "orchestrator", "optimal", "independent")


def run_site_backtest(
    series: Series, site: Site, strategies: Sequence[str] = STRATEGIES
) -> dict[str, Any]:
    """Replay the site on the profile; return every strategy's figures."""
    scored = scored_days(series, site)
    results: dict[str, Any] = {}
    makers: dict[str, Callable[[Scored], Strategy]] = {
        "none": Timer,
        "instant": Instant,
        "orchestrator": Orchestrator,
        "foresight": Foresight,
        "scenarios": ScenarioOrchestrator,
        "independent": Independent,
    }
    battery_only = not site.all_loads and site.battery is not None
    if battery_only:
        # A battery alone: what its manager runs, the price plan.
        makers["orchestrator"] = PricePlanStrategy
    for name in strategies:
        if name == "optimal":
            results[name] = solve_optimal(scored)
        else:
            results[name] = replay(scored, makers[name](scored))
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
