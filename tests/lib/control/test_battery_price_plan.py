"""The battery's price plan: exact against brute force, the classic cases, the reserve."""

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
import itertools
import math

import pytest

from custom_components.energy_orchestrator.lib.control.battery_price_plan import (
    TIE_BREAK_PER_KWH,
    BatteryPricePlan,
    PricePlanError,
    PricePlanRequest,
    plan_battery,
)
from custom_components.energy_orchestrator.lib.control.battery_states import (
    BatteryState,
    BatteryStateMachine,
    Reason,
    StateLimits,
)

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def request(prices: list[float], **changes: object) -> PricePlanRequest:
    """Return a 10 kWh, 2.5 kW battery at 10 % on hourly prices."""
    fields: dict[str, object] = {
        "start": T0,
        "import_prices": prices,
        "capacity_wh": 10_000.0,
        "energy_wh": 1_000.0,
        "floor_wh": 1_000.0,
        "ceiling_wh": 9_000.0,
        "charge_w": 2_500.0,
        "discharge_w": 2_500.0,
        "round_trip_efficiency": 0.9,
        "cycle_cost_per_kwh": 0.0,
        "slot": HOUR,
    }
    fields.update(changes)
    return PricePlanRequest(**fields)  # type: ignore[arg-type]


def modes(plan: BatteryPricePlan) -> str:
    """Return the plan's modes as one letter a slot: C, R, S."""
    return "".join(slot.mode.value[0].upper() for slot in plan.slots)


def brute_force(req: PricePlanRequest, levels: tuple[float, ...]) -> float:
    """Return the lowest objective over every sequence of power levels (W, + charge).

    The objective is the planner's: energy bought, less energy saved, with
    the cycle cost and the tie break, less the end energy at its refill worth.
    """
    eta = math.sqrt(req.round_trip_efficiency)
    hours = req.slot / HOUR
    refill = (min(req.import_prices) + req.cycle_cost_per_kwh) / eta
    best = math.inf
    for powers in itertools.product(levels, repeat=len(req.import_prices)):
        energy, cost = req.energy_wh, 0.0
        for power, price in zip(powers, req.import_prices, strict=True):
            if power >= 0:
                energy += eta * power * hours
                cost += (
                    power
                    * hours
                    / 1000
                    * (price + req.cycle_cost_per_kwh + TIE_BREAK_PER_KWH)
                )
            else:
                energy += power * hours / eta
                cost += -power * hours / 1000 * (TIE_BREAK_PER_KWH - price)
            if not req.floor_wh - 1e-6 <= energy <= req.ceiling_wh + 1e-6:
                break
        else:
            best = min(best, cost - refill * energy / 1000)
    return best


def objective(req: PricePlanRequest, plan: BatteryPricePlan) -> float:
    """Return the planner's objective for its own plan, from its slots."""
    eta = math.sqrt(req.round_trip_efficiency)
    hours = req.slot / HOUR
    refill = (min(req.import_prices) + req.cycle_cost_per_kwh) / eta
    cost = 0.0
    for slot in plan.slots:
        power = slot.battery_w
        if power >= 0:
            cost += (
                power
                * hours
                / 1000
                * (slot.price + req.cycle_cost_per_kwh + TIE_BREAK_PER_KWH)
            )
        else:
            cost += -power * hours / 1000 * (TIE_BREAK_PER_KWH - slot.price)
    end_wh = plan.slots[-1].soc / 100 * req.capacity_wh
    return cost - refill * end_wh / 1000


@pytest.mark.parametrize(
    ("prices", "efficiency", "cycle"),
    [
        ([0.10, 0.30, 0.12, 0.35, 0.08], 1.0, 0.0),
        ([0.30, 0.10, 0.10, 0.40, 0.25, 0.05], 1.0, 0.02),
        ([0.20, 0.20, 0.20, 0.20], 1.0, 0.0),
        ([0.05, 0.25, 0.05, 0.25, 0.05, 0.25], 1.0, 0.05),
        ([0.10, 0.11, 0.50, 0.12, 0.45, 0.09], 1.0, 0.0),
    ],
)
def test_the_plan_is_the_brute_force_optimum(
    prices: list[float], efficiency: float, cycle: float
) -> None:
    """Where whole slots at full power reach every optimum, the LP finds the same cost."""
    # 2 kWh a slot between 1 and 9 kWh: full-power steps meet the limits exactly.
    req = request(
        prices,
        charge_w=2000.0,
        discharge_w=2000.0,
        round_trip_efficiency=efficiency,
        cycle_cost_per_kwh=cycle,
    )
    plan = plan_battery(req, T0)
    best = brute_force(req, (-2000.0, 0.0, 2000.0))
    assert objective(req, plan) == pytest.approx(best, abs=2e-3)


@pytest.mark.parametrize(
    "prices",
    [[0.10, 0.30, 0.12, 0.35], [0.30, 0.05, 0.40, 0.25, 0.06], [0.2, 0.1, 0.3]],
)
def test_with_losses_no_brute_force_plan_beats_it(prices: list[float]) -> None:
    """At 81 % round trip the LP is at least as good as every stepped plan."""
    req = request(prices, round_trip_efficiency=0.81, cycle_cost_per_kwh=0.01)
    plan = plan_battery(req, T0)
    best = brute_force(req, (-2500.0, -1250.0, 0.0, 1250.0, 2500.0))
    assert objective(req, plan) <= best + 2e-3


def test_charges_in_the_cheap_night_and_sells_in_the_dear_evening() -> None:
    """Cheap night, dear evening: charge at night, discharge in the evening."""
    prices = [0.08] * 6 + [0.20] * 11 + [0.40] * 4 + [0.20] * 3
    plan = plan_battery(request(prices), T0)
    night, evening = plan.slots[:6], plan.slots[17:21]
    assert {slot.mode for slot in night} >= {BatteryState.CHARGE}
    assert all(slot.reason is Reason.CHEAP_HOUR for slot in night if slot.battery_w)
    assert sum(slot.battery_w for slot in night) == pytest.approx(8000 / 0.9**0.5, 1e-3)
    assert all(slot.mode is BatteryState.SELL for slot in evening[:3])
    assert evening[0].reason is Reason.DEAR_HOUR
    assert plan.slots[20].soc == pytest.approx(10.0)
    assert all(slot.mode is BatteryState.REST for slot in plan.slots[6:17])
    assert plan.saving > 0


def test_a_flat_price_leaves_the_battery_alone() -> None:
    """No spread, no cycle: losses make every one a loss."""
    plan = plan_battery(request([0.25] * 24, energy_wh=5000.0), T0)
    assert modes(plan) == "R" * 24
    assert plan.saving == pytest.approx(0.0, abs=1e-6)


def test_a_small_spread_under_large_losses_leaves_it_alone() -> None:
    """At 50 % round trip, 0.18 x 0.5 does not beat 0.10: no cycle."""
    prices = [0.10] * 6 + [0.18] * 18
    assert modes(plan_battery(request(prices, round_trip_efficiency=0.5), T0)) == (
        "R" * 24
    )
    # The same spread at 90 % is worth a cycle.
    assert "C" in modes(plan_battery(request(prices), T0))


def test_the_cycle_cost_must_be_beaten_too() -> None:
    """0.30 x 0.9 = 0.27 beats 0.10, not 0.10 plus a wear of 0.20 per kWh."""
    prices = [0.10] * 4 + [0.30] * 4
    assert "C" in modes(plan_battery(request(prices), T0))
    assert modes(plan_battery(request(prices, cycle_cost_per_kwh=0.2), T0)) == "R" * 8


def test_fills_the_peak_reserve_in_the_cheapest_hours_before_it_is_needed() -> None:
    """The reserve from slot 6 on: charged at the cheapest hours before, and held."""
    prices = [0.30, 0.30, 0.05, 0.06, 0.10, 0.10, 0.10, 0.10]
    plan = plan_battery(
        request(
            prices,
            round_trip_efficiency=0.5,
            # 3 kWh to store: two cheap hours at 2.5 kW bring 3.5 kWh in.
            reserve_wh=4000.0,
            reserve_from=6,
        ),
        T0,
    )
    # Losses make arbitrage worthless; the reserve is still filled, cheaply.
    assert modes(plan)[:4] == "RRCC"
    assert {plan.slots[2].reason, plan.slots[3].reason} == {Reason.FILLING_PEAK_RESERVE}
    assert plan.slots[5].soc >= 40.0 - 0.1
    assert all(slot.mode is not BatteryState.SELL for slot in plan.slots)


def test_with_a_load_forecast_discharge_covers_the_load_only_where_export_pays_less() -> (
    None
):
    """With a 1 kW load, the evening's discharge is the load's, not an export."""
    prices = [0.08] * 4 + [0.40] * 4
    plan = plan_battery(
        request(
            prices,
            base_w=[1000.0] * 8,
            export_prices=[0.02] * 8,
            energy_wh=1000.0,
        ),
        T0,
    )
    evening = [slot.battery_w for slot in plan.slots[4:]]
    assert evening == pytest.approx([-1000.0] * 4, abs=1.0)
    assert sum(slot.battery_w for slot in plan.slots[:4]) > 0


def test_a_plan_survives_its_own_round_trip() -> None:
    """What a restart reads back is the plan it saved."""
    plan = plan_battery(request([0.1, 0.3, 0.2]), T0)
    assert BatteryPricePlan.from_dict(plan.as_dict()) == plan
    assert plan.end == T0 + 3 * HOUR
    assert plan.slot_at(T0 + 90 * timedelta(minutes=1)) == plan.slots[1]
    assert plan.slot_at(T0 + 3 * HOUR) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"import_prices": []},
        {"import_prices": [math.nan]},
        {"floor_wh": 9500.0},
        {"round_trip_efficiency": 0.0},
        {"cycle_cost_per_kwh": -1.0},
        {"base_w": [0.0]},
    ],
)
def test_refuses_a_request_no_battery_fits(changes: dict[str, object]) -> None:
    """Each impossible request names why."""
    with pytest.raises(PricePlanError):
        plan_battery(request([0.1, 0.2], **changes), T0)


LIMITS = StateLimits(
    soc_floor=10,
    soc_ceiling=90,
    cell_voltage_min=2.9,
    cell_voltage_max=3.55,
    min_rest=timedelta(minutes=15),
    # Windows that would never charge: the plan takes their place.
    charge_window=(time(12), time(13)),
    sell_window=(time(12), time(13)),
)
MID_V = 3.28


def test_the_state_machine_follows_the_plan_hour_by_hour() -> None:
    """Charge in the cheap hours, rest between, sell in the dear, each with its reason."""
    prices = [0.08] * 6 + [0.20] * 11 + [0.40] * 4 + [0.20] * 3
    plan = plan_battery(request(prices), T0)
    machine = BatteryStateMachine.starting(LIMITS, T0)
    seen: list[tuple[BatteryState, Reason]] = []
    soc = 10.0
    for slot in plan.slots:
        moment = slot.start + timedelta(minutes=5)
        machine.step(
            moment,
            moment.time(),
            soc,
            MID_V,
            plan=plan.directive(moment),
        )
        seen.append((machine.memory.state, machine.memory.reason))
        soc = slot.soc
    assert seen[0] == (BatteryState.CHARGE, Reason.CHEAP_HOUR)
    assert seen[10] == (BatteryState.REST, Reason.HOLDING_CHARGE)
    assert seen[17] == (BatteryState.SELL, Reason.DEAR_HOUR)
    assert machine.memory.detail.startswith("Price") or seen[-1][0] is not (
        BatteryState.SELL
    )


def test_the_limits_win_over_the_plan() -> None:
    """A plan's charge stops at the ceiling; its sale does not start at the floor."""
    machine = BatteryStateMachine.starting(LIMITS, T0)
    charge = (BatteryState.CHARGE, Reason.CHEAP_HOUR, "Cheap hour.")
    machine.step(T0, T0.time(), 50, MID_V, plan=charge)
    assert machine.memory.state is BatteryState.CHARGE
    machine.step(T0 + timedelta(minutes=1), T0.time(), 90, MID_V, plan=charge)
    assert (machine.memory.state, machine.memory.reason) == (
        BatteryState.REST,
        Reason.SOC_CEILING,
    )
    sell = (BatteryState.SELL, Reason.DEAR_HOUR, "Dear hour.")
    empty = BatteryStateMachine.starting(LIMITS, T0)
    assert empty.step(T0, T0.time(), 11, MID_V, plan=sell) is None
    assert empty.memory.state is BatteryState.REST
    # The peak reserve stops the plan's sale as it stops a window's.
    held = BatteryStateMachine.starting(LIMITS, T0)
    held.step(T0, T0.time(), 60, MID_V, plan=sell)
    held.step(T0 + timedelta(minutes=1), T0.time(), 40, MID_V, reserve=45, plan=sell)
    assert (held.memory.state, held.memory.reason) == (
        BatteryState.REST,
        Reason.PEAK_RESERVE,
    )


def test_when_the_plan_ends_the_battery_rests_then_the_windows_decide() -> None:
    """Prices gone mid-charge: rest, said so; the automatic rules go on from there."""
    machine = BatteryStateMachine.starting(replace(LIMITS, charge_window=None), T0)
    charge = (BatteryState.CHARGE, Reason.CHEAP_HOUR, "Cheap hour.")
    machine.step(T0, T0.time(), 50, MID_V, plan=charge)
    assert machine.memory.reason is Reason.CHEAP_HOUR
    later = T0 + timedelta(minutes=1)
    transition = machine.step(later, later.time(), 51, MID_V)
    assert transition is not None
    assert (transition.to_state, transition.reason) == (
        BatteryState.REST,
        Reason.PRICE_PLAN_ENDED,
    )
    after_rest = later + LIMITS.min_rest
    machine.step(after_rest, after_rest.time(), 51, MID_V)
    assert (machine.memory.state, machine.memory.reason) == (
        BatteryState.CHARGE,
        Reason.REST_OVER,
    )


def test_the_plan_takes_over_a_state_without_a_transition() -> None:
    """Charging by the automatic rules when the plan says charge: its reason, no event."""
    machine = BatteryStateMachine.starting(replace(LIMITS, charge_window=None), T0)
    machine.step(T0, T0.time(), 50, MID_V)
    assert machine.memory.reason is Reason.REST_OVER
    charge = (BatteryState.CHARGE, Reason.CHEAP_HOUR, "Cheap hour.")
    later = T0 + timedelta(minutes=1)
    assert machine.step(later, later.time(), 50, MID_V, plan=charge) is None
    assert (machine.memory.state, machine.memory.reason) == (
        BatteryState.CHARGE,
        Reason.CHEAP_HOUR,
    )
    assert machine.memory.since == T0


def test_a_reserve_schedule_is_filled_in_the_cheapest_hours_before_it() -> None:
    """Peak shaving needs 50 % from slot 6 on: bought at 0.05-0.06, not at once."""
    prices = [0.30, 0.30, 0.05, 0.06, 0.10, 0.10, 0.10, 0.10]
    plan = plan_battery(
        request(
            prices,
            round_trip_efficiency=0.81,
            reserve_ahead_wh=[0.0] * 5 + [5000.0] * 3,
        ),
        T0,
    )
    assert modes(plan)[:2] == "RR"
    assert {plan.slots[2].reason, plan.slots[3].reason} == {Reason.FILLING_PEAK_RESERVE}
    assert plan.slots[4].soc >= 50.0 - 0.1
