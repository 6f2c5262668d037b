"""The battery's part of a flexible loads plan, in the battery manager's words.

The planner gives the battery's power per step (charging positive) with
the grid's; a battery manager steps a state machine of charge, rest and
sell. Each step becomes a ``PlanSlot`` as the manager's own price plan
makes them (``battery_price_plan``), so the manager follows either the
same way:

- charging beyond the site's own surplus: ``charge``, ``cheap_hour``
  (energy bought from the grid);
- charging within the surplus: ``rest``, ``soaking_surplus`` (the
  inverter's rest mode stores what the site does not use);
- discharging: ``sell``, ``dear_hour``;
- neither: ``rest``, ``holding_charge``.

The SOC at each step's end follows the planned powers through the one-way
efficiency from the energy the plan was made from.
"""

from collections.abc import Sequence
from datetime import datetime

from ..battery_price_plan import BatteryPricePlan, PlanSlot
from ..battery_states import BatteryState, Reason
from .planner import Plan

# A planned power within this of 0 (W) is none: the solver's tolerance.
IDLE_W = 50.0


def battery_part(
    plan: Plan,
    import_prices: Sequence[float],
    energy_wh: float,
    capacity_wh: float,
    *,
    efficiency: float,
    made_at: datetime,
) -> BatteryPricePlan:
    """Return the battery's slots of ``plan`` (see the module doc).

    ``import_prices`` has one price per step of the plan; ``energy_wh`` is
    the energy stored when the plan was made, ``efficiency`` one way.
    """
    hours = plan.step.total_seconds() / 3600
    stored = energy_wh
    slots = []
    for index, (battery_w, grid_w) in enumerate(
        zip(plan.battery_w, plan.grid_w, strict=True)
    ):
        surplus_w = max(battery_w - grid_w, 0.0)
        if battery_w > surplus_w + IDLE_W:
            mode, reason = BatteryState.CHARGE, Reason.CHEAP_HOUR
        elif battery_w > IDLE_W:
            mode, reason = BatteryState.REST, Reason.SOAKING_SURPLUS
        elif battery_w < -IDLE_W:
            mode, reason = BatteryState.SELL, Reason.DEAR_HOUR
        else:
            mode, reason = BatteryState.REST, Reason.HOLDING_CHARGE
        if battery_w > 0:
            stored += battery_w * efficiency * hours
        else:
            stored += battery_w / efficiency * hours
        stored = min(max(stored, 0.0), capacity_wh)
        slots.append(
            PlanSlot(
                plan.start + index * plan.step,
                mode,
                reason,
                round(battery_w),
                float(import_prices[index]),
                round(100 * stored / capacity_wh, 1),
            )
        )
    return BatteryPricePlan(made_at, plan.step, tuple(slots), None)
