"""The battery's price plan: charge in the cheapest hours, discharge in the dearest.

A linear program over the price horizon, solved exactly by HiGHS (an LP:
no integers, so the optimum is proven, in milliseconds for two days of
15-minute slots). Per slot ``t`` of ``h`` hours, the battery charges
``c_t`` (W, at most its charge power) and discharges ``d_t`` (at most its
discharge power); its stored energy follows

    E_{t+1} = E_t + eta * c_t * h - d_t * h / eta,   eta = sqrt(round trip)

within the floor and the ceiling (and, from the slot the peak reserve is
needed on, at least the reserve). A kWh charged costs the import price
plus the cycle cost (wear, per kWh through the battery); a kWh discharged
is worth:

- without a load forecast (Home Assistant's battery manager, which sees
  only the battery): the import price, the energy the home does not buy;
- with one (``base_w``, load minus PV): what the grid balance makes of it,
  imports at the import price and exports at the export price.

What is left at the horizon's end is worth what it would cost to put it
back: the horizon's lowest import price plus the cycle cost, over the
charging efficiency. So a cycle pays only where ``dear x round trip >
cheap + cycle cost``: a flat price, or a small spread under large losses,
leaves the battery alone. A tenth of a cent per kWh through the battery
breaks ties (a plan does not cycle for nothing).

Each slot's mode for the battery manager's state machine: ``charge`` where
the plan buys energy into the battery (``cheap_hour``, or
``filling_peak_reserve`` while the energy is below the reserve),
``sell`` where it discharges (``dear_hour``), ``rest`` otherwise
(``holding_charge``: keeping the energy for a dearer slot). See
docs/decisions/battery-price-plan.md for why an LP.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
import math
from typing import Any

from ..rounding import PERCENT_DECIMALS, WATT_DECIMALS, rounded
from .battery_states import BatteryState, Decision, Reason
from .flexible_loads.milp import INFINITY, Model, SolveError

__all__ = [
    "BatteryPricePlan",
    "PlanSlot",
    "PricePlanError",
    "PricePlanRequest",
    "plan_battery",
]

SLOT = timedelta(minutes=15)
# Per kWh through the battery: breaks ties, far below any real price spread.
TIE_BREAK_PER_KWH = 1e-3
# Below this a planned power is none (W): HiGHS's tolerances, not a decision.
POWER_EPSILON_W = 1.0
TIME_LIMIT_S = 5.0


class PricePlanError(ValueError):
    """A request that cannot be planned; the message says why."""


@dataclass(frozen=True)
class PricePlanRequest:
    """What the price plan is made from: prices per slot and the battery."""

    start: datetime
    import_prices: Sequence[float]  # per kWh, one per slot
    capacity_wh: float
    energy_wh: float  # stored now
    floor_wh: float
    ceiling_wh: float
    charge_w: float
    discharge_w: float
    round_trip_efficiency: float = 0.9
    cycle_cost_per_kwh: float = 0.0
    # Per kWh exported, one per slot; only with ``base_w``.
    export_prices: Sequence[float] | None = None
    # Load minus PV per slot (W); None: every discharged kWh saves an import.
    base_w: Sequence[float] | None = None
    # The energy a peak-shaving plan holds, from ``reserve_from`` (a slot) on.
    reserve_wh: float = 0.0
    reserve_from: int = 0
    # Or its schedule: the energy it needs at each slot's end (Wh).
    reserve_ahead_wh: Sequence[float] | None = None
    slot: timedelta = SLOT

    def validate(self) -> None:
        """Raise PricePlanError for a request no battery fits."""
        slots = len(self.import_prices)
        checks = (
            (slots > 0, "a plan needs at least one price"),
            (
                all(math.isfinite(p) for p in self.import_prices),
                "a price is not a number",
            ),
            (self.capacity_wh > 0, "the capacity must be positive"),
            (
                0 <= self.floor_wh < self.ceiling_wh <= self.capacity_wh,
                "the floor must be below the ceiling, both within the capacity",
            ),
            (self.charge_w >= 0 and self.discharge_w >= 0, "powers are not negative"),
            (
                0 < self.round_trip_efficiency <= 1,
                "the round-trip efficiency is in (0, 1]",
            ),
            (self.cycle_cost_per_kwh >= 0, "the cycle cost cannot be negative"),
            (
                self.base_w is None or len(self.base_w) == slots,
                "the load forecast needs one value per slot",
            ),
            (
                self.base_w is None
                or (
                    self.export_prices is not None and len(self.export_prices) == slots
                ),
                "with a load forecast, an export price per slot",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise PricePlanError(message)


@dataclass(frozen=True)
class PlanSlot:
    """One slot of the plan: its mode, why, its power, price and SOC at its end."""

    start: datetime
    mode: BatteryState
    reason: Reason
    battery_w: float  # + charging, - discharging
    price: float
    soc: float  # % at the slot's end

    def as_dict(self) -> dict[str, Any]:
        """Return the slot as a dashboard draws it (and a restart reads it)."""
        return {
            "start": self.start.isoformat(),
            "mode": self.mode.value,
            "reason": self.reason.value,
            "battery_w": self.battery_w,
            "price": self.price,
            "soc": self.soc,
        }

    @classmethod
    def from_dict(cls, data: Any) -> PlanSlot:
        """Return a slot from ``as_dict``'s data; raise on anything else."""
        start = datetime.fromisoformat(data["start"])
        if start.tzinfo is None:
            raise ValueError("a slot's start has no time zone")
        return cls(
            start,
            BatteryState(data["mode"]),
            Reason(data["reason"]),
            float(data["battery_w"]),
            float(data["price"]),
            float(data["soc"]),
        )


@dataclass(frozen=True)
class BatteryPricePlan:
    """The plan, slot by slot, and what it saves against leaving the battery alone."""

    made_at: datetime
    slot: timedelta
    slots: tuple[PlanSlot, ...]
    # Against a battery left alone over the horizon; None where the plan is
    # another planner's (the flexible loads'), which does not count it.
    saving: float | None

    @property
    def end(self) -> datetime:
        """Return when the plan's last slot ends."""
        return self.slots[-1].start + self.slot if self.slots else self.made_at

    def slot_at(self, moment: datetime) -> PlanSlot | None:
        """Return the slot ``moment`` falls in, None outside the plan."""
        if not self.slots:
            return None
        index = math.floor((moment - self.slots[0].start) / self.slot)
        return self.slots[index] if 0 <= index < len(self.slots) else None

    def directive(self, moment: datetime) -> Decision | None:
        """Return what the plan asks at ``moment`` (a state and why), None outside it."""
        slot = self.slot_at(moment)
        if slot is None:
            return None
        return slot.mode, slot.reason, _sentence(slot)

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as JSON-able data."""
        return {
            "made_at": self.made_at.isoformat(),
            "slot_minutes": self.slot / timedelta(minutes=1),
            "saving": self.saving,
            "slots": [slot.as_dict() for slot in self.slots],
        }

    @classmethod
    def from_dict(cls, data: Any) -> BatteryPricePlan:
        """Return a plan from ``as_dict``'s data; raise ValueError/KeyError/TypeError."""
        made_at = datetime.fromisoformat(data["made_at"])
        if made_at.tzinfo is None:
            raise ValueError("the plan's time has no time zone")
        return cls(
            made_at,
            timedelta(minutes=float(data["slot_minutes"])),
            tuple(PlanSlot.from_dict(slot) for slot in data["slots"]),
            None if data["saving"] is None else float(data["saving"]),
        )


def _sentence(slot: PlanSlot) -> str:
    """Return why the plan is in a slot's mode, for people."""
    price = f"{slot.price:.3f}/kWh"
    return {
        Reason.CHEAP_HOUR: f"Cheap hour ({price}): the plan charges from the grid.",
        Reason.FILLING_PEAK_RESERVE: f"Charging from the grid ({price}) to the energy"
        " peak shaving holds.",
        Reason.DEAR_HOUR: f"Dear hour ({price}): the plan discharges.",
        Reason.HOLDING_CHARGE: f"Price {price}: the plan keeps the energy for a"
        " dearer hour.",
        Reason.SOAKING_SURPLUS: f"Price {price}: the plan stores the site's surplus.",
    }[slot.reason]


def plan_battery(request: PricePlanRequest, made_at: datetime) -> BatteryPricePlan:
    """Return the lowest-cost plan for the request (see the module doc).

    Raises PricePlanError for a request that cannot be planned.
    """
    request.validate()
    slots = len(request.import_prices)
    hours = request.slot / timedelta(hours=1)
    eta = math.sqrt(request.round_trip_efficiency)
    imports = [float(p) for p in request.import_prices]
    cycle = request.cycle_cost_per_kwh
    # The energy the battery may hold at each slot's end; below the reserve
    # only where it is there already, or cannot be reached in time.
    now_wh = min(max(request.energy_wh, 0.0), request.capacity_wh)
    # A battery below its floor now may stay there: the plan is still feasible.
    lowest = [min(request.floor_wh, now_wh)] * slots
    needed = _reserve_needed(request, slots)
    reserve = max(needed, default=0.0)
    for index, wanted in enumerate(needed):
        if wanted > request.floor_wh:
            reachable = now_wh + eta * request.charge_w * hours * (index + 1)
            lowest[index] = max(lowest[index], min(wanted, reachable))
    highest = [max(request.ceiling_wh, now_wh)] * slots
    model = Model()
    kwh = hours / 1000
    charge = model.add(
        slots,
        0.0,
        request.charge_w,
        [(p + cycle + TIE_BREAK_PER_KWH) * kwh for p in imports]
        if request.base_w is None
        else (cycle + TIE_BREAK_PER_KWH) * kwh,
    )
    discharge = model.add(
        slots,
        0.0,
        request.discharge_w,
        [(TIE_BREAK_PER_KWH - p) * kwh for p in imports]
        if request.base_w is None
        else TIE_BREAK_PER_KWH * kwh,
    )
    energy = model.add(slots, lowest, highest)
    # The energy left at the end is worth putting back at the cheapest price.
    refill = (min(imports) + cycle) / eta
    model.add_cost(energy + slots - 1, -refill / 1000)
    for index in range(slots):
        before = [] if index == 0 else [energy + index - 1]
        model.row(
            [energy + index, charge + index, discharge + index, *before],
            [1.0, -eta * hours, hours / eta, *([-1.0] * len(before))],
            now_wh if index == 0 else 0.0,
            now_wh if index == 0 else 0.0,
        )
    grid = -1
    if request.base_w is not None:
        assert request.export_prices is not None
        exports = [
            min(float(e), i)
            for e, i in zip(request.export_prices, imports, strict=True)
        ]
        grid = model.add(slots, 0.0, INFINITY, [p * kwh for p in imports])
        sold = model.add(slots, 0.0, INFINITY, [-p * kwh for p in exports])
        for index in range(slots):
            # import - export = base + charge - discharge
            model.row(
                [grid + index, sold + index, charge + index, discharge + index],
                [1.0, -1.0, -1.0, 1.0],
                float(request.base_w[index]),
                float(request.base_w[index]),
            )
    try:
        solution = model.solve(time_limit_s=TIME_LIMIT_S, mip_rel_gap=0.0)
    except SolveError as err:
        raise PricePlanError(f"no plan: {err}") from err
    values = solution.values
    plan_slots = []
    before_wh = now_wh
    for index in range(slots):
        charge_w = float(values[charge + index])
        discharge_w = float(values[discharge + index])
        stored = float(values[energy + index])
        net_w = charge_w - discharge_w
        surplus_w = (
            0.0 if request.base_w is None else max(-float(request.base_w[index]), 0.0)
        )
        if net_w > surplus_w + POWER_EPSILON_W:
            # Charging towards a reserve still to come is filling it.
            ahead = max(needed[index:], default=0.0)
            reason = (
                Reason.FILLING_PEAK_RESERVE
                if reserve > request.floor_wh and before_wh < ahead - 1.0
                else Reason.CHEAP_HOUR
            )
            mode = BatteryState.CHARGE
        elif net_w < -POWER_EPSILON_W:
            mode, reason = BatteryState.SELL, Reason.DEAR_HOUR
        else:
            mode, reason = BatteryState.REST, Reason.HOLDING_CHARGE
        plan_slots.append(
            PlanSlot(
                request.start + index * request.slot,
                mode,
                reason,
                rounded(net_w, WATT_DECIMALS),
                imports[index],
                rounded(100 * stored / request.capacity_wh, PERCENT_DECIMALS),
            )
        )
        before_wh = stored
    idle = _idle_cost(request, refill, now_wh)
    return BatteryPricePlan(
        made_at,
        request.slot,
        tuple(plan_slots),
        round(idle - solution.objective, 4),
    )


def _reserve_needed(request: PricePlanRequest, slots: int) -> list[float]:
    """Return the energy peak shaving needs at each slot's end (0: none).

    Before ``reserve_from``, a battery already above the reserve keeps what
    it has of it: no sale below it, however soon it is needed.
    """
    now_wh = min(max(request.energy_wh, 0.0), request.capacity_wh)
    needed = [0.0] * slots
    reserve = min(request.reserve_wh, request.ceiling_wh)
    for index in range(slots):
        if index + 1 >= request.reserve_from:
            needed[index] = reserve
        else:
            needed[index] = min(reserve, now_wh)
    if request.reserve_ahead_wh is not None:
        for index, wanted in enumerate(request.reserve_ahead_wh[:slots]):
            needed[index] = max(needed[index], min(wanted, request.ceiling_wh))
    return needed


def _idle_cost(request: PricePlanRequest, refill: float, now_wh: float) -> float:
    """Return the objective of a battery left alone: its energy kept, the grid as it is."""
    kwh = request.slot / timedelta(hours=1) / 1000
    cost = -refill * now_wh / 1000
    if request.base_w is not None:
        assert request.export_prices is not None
        for base, buy, sell in zip(
            request.base_w, request.import_prices, request.export_prices, strict=True
        ):
            cost += (base * buy if base > 0 else base * min(sell, buy)) * kwh
    return cost
