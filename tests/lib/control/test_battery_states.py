"""The charge/rest/sell state machine: every trigger, no flapping, requests."""

from datetime import UTC, datetime, time, timedelta

import pytest

from custom_components.energy_orchestrator.lib.control.battery_states import (
    BatteryMode,
    BatteryState,
    BatteryStateMachine,
    Reason,
    StateLimits,
    in_window,
    machine_state_from,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOON = time(12, 0)
LIMITS = StateLimits(
    soc_floor=20,
    soc_ceiling=70,
    cell_voltage_min=2.9,
    cell_voltage_max=3.55,
    min_rest=timedelta(minutes=15),
    charge_window=None,
    sell_window=None,
)
# A cell voltage well inside the limits.
MID_V = 3.28


def machine(**changes: object) -> BatteryStateMachine:
    limits = StateLimits(**{**LIMITS.__dict__, **changes})  # type: ignore[arg-type]
    return BatteryStateMachine.starting(limits, T0)


def test_starts_charging_from_the_middle_then_rests_at_the_ceiling() -> None:
    sm = machine()
    t = sm.step(T0, NOON, 50, MID_V)
    assert t is not None
    assert (t.from_state, t.to_state, t.reason) == (
        BatteryState.REST,
        BatteryState.CHARGE,
        Reason.REST_OVER,
    )
    assert sm.step(T0 + timedelta(minutes=1), NOON, 69.9, MID_V) is None
    t = sm.step(T0 + timedelta(minutes=2), NOON, 70.0, MID_V)
    assert t is not None
    assert (t.to_state, t.reason) == (BatteryState.REST, Reason.SOC_CEILING)
    assert "70.0 %" in t.detail


def test_after_a_full_charge_rests_then_sells_down_to_the_floor() -> None:
    sm = machine()
    sm.step(T0, NOON, 50, MID_V)
    sm.step(T0 + timedelta(minutes=1), NOON, 71, MID_V)  # -> rest at the ceiling
    rested = T0 + timedelta(minutes=1)
    # The minimum rest holds even though selling is possible.
    assert sm.step(rested + timedelta(minutes=14), NOON, 71, MID_V) is None
    t = sm.step(rested + timedelta(minutes=15), NOON, 71, MID_V)
    assert t is not None
    assert (t.to_state, t.reason) == (BatteryState.SELL, Reason.REST_OVER)
    t = sm.step(rested + timedelta(hours=3), NOON, 20, MID_V)
    assert t is not None
    assert (t.to_state, t.reason) == (BatteryState.REST, Reason.SOC_FLOOR)
    # And back up after the rest: an empty battery charges.
    t = sm.step(rested + timedelta(hours=4), NOON, 20.5, MID_V)
    assert t is not None
    assert t.to_state is BatteryState.CHARGE


def test_voltage_limits_stop_charge_and_sell() -> None:
    sm = machine()
    sm.step(T0, NOON, 50, MID_V)
    t = sm.step(T0 + timedelta(minutes=1), NOON, 60, 3.56)
    assert t is not None
    assert (t.to_state, t.reason) == (BatteryState.REST, Reason.VOLTAGE_HIGH)
    sm = machine()
    sm.request(T0, BatteryMode.SELL, None)
    sm.step(T0, NOON, 50, MID_V)
    t = sm.step(T0 + timedelta(minutes=1), NOON, 40, 2.85)
    assert t is not None
    assert (t.to_state, t.reason) == (BatteryState.REST, Reason.VOLTAGE_LOW)
    # A held sell does not resume at the cut-off.
    assert sm.step(T0 + timedelta(hours=1), NOON, 40, 2.93) is None


@pytest.mark.parametrize("amplitude", [0.5, 1.0, 2.9])
def test_soc_noise_at_the_ceiling_does_not_flap(amplitude: float) -> None:
    """Noise narrower than the hysteresis band makes one transition, not many."""
    # Selling only in the evening, so at noon the ceiling's band alone
    # decides whether charging starts again.
    sm = machine(min_rest=timedelta(0), sell_window=(time(18, 0), time(22, 0)))
    sm.step(T0, NOON, 60, MID_V)
    transitions = []
    for minute in range(1, 600):
        soc = 70 + (amplitude if minute % 2 else -amplitude)
        if (t := sm.step(T0 + timedelta(minutes=minute), NOON, soc, MID_V)) is not None:
            transitions.append(t)
    assert [t.reason for t in transitions] == [Reason.SOC_CEILING]


def test_charge_window_opens_and_closes() -> None:
    sm = machine(
        charge_window=(time(10, 0), time(16, 0)), sell_window=(time(18, 0), time(22, 0))
    )
    assert sm.step(T0, time(9, 59), 40, MID_V) is None
    t = sm.step(T0 + timedelta(minutes=1), time(10, 0), 40, MID_V)
    assert t is not None
    assert t.to_state is BatteryState.CHARGE
    t = sm.step(T0 + timedelta(hours=6), time(16, 0), 50, MID_V)
    assert t is not None
    assert (t.to_state, t.reason) == (BatteryState.REST, Reason.CHARGE_WINDOW_CLOSED)


def test_sell_window_over_midnight() -> None:
    window = (time(22, 0), time(6, 0))
    assert in_window(window, time(23, 0))
    assert in_window(window, time(5, 59))
    assert not in_window(window, time(6, 0))
    assert not in_window(window, time(12, 0))
    sm = machine(sell_window=window, charge_window=(time(10, 0), time(16, 0)))
    sm.memory.last_limit = "full"
    assert sm.step(T0, time(21, 0), 60, MID_V) is None
    t = sm.step(T0 + timedelta(hours=1), time(22, 0), 60, MID_V)
    assert t is not None
    assert t.to_state is BatteryState.SELL
    t = sm.step(T0 + timedelta(hours=9), time(6, 0), 40, MID_V)
    assert t is not None
    assert t.reason is Reason.SELL_WINDOW_CLOSED


def test_a_request_acts_at_once_and_expires() -> None:
    sm = machine()
    sm.step(T0, NOON, 50, MID_V)  # charging
    sm.request(T0, BatteryMode.SELL, T0 + timedelta(hours=1))
    t = sm.step(T0 + timedelta(seconds=5), NOON, 50, MID_V)
    assert t is not None
    assert (t.to_state, t.reason) == (BatteryState.SELL, Reason.REQUESTED)
    # Held: a SOC that would have made auto charge changes nothing.
    assert sm.step(T0 + timedelta(minutes=30), NOON, 45, MID_V) is None
    # Expired: auto takes over (a sell in auto goes on until the floor).
    assert sm.step(T0 + timedelta(hours=1), NOON, 45, MID_V) is None
    assert sm.memory.mode is BatteryMode.AUTO
    assert sm.memory.mode_until is None


def test_a_requested_charge_passes_the_ceiling_but_not_the_absorb_voltage() -> None:
    sm = machine()
    sm.request(T0, BatteryMode.CHARGE, None)
    sm.step(T0, NOON, 50, MID_V)
    assert sm.step(T0 + timedelta(hours=1), NOON, 90, 3.40) is None
    t = sm.step(T0 + timedelta(hours=2), NOON, 99, 3.56)
    assert t is not None
    assert t.reason is Reason.VOLTAGE_HIGH


def test_a_requested_sell_stops_at_the_floor() -> None:
    sm = machine()
    sm.request(T0, BatteryMode.SELL, None)
    assert sm.step(T0, NOON, 22, MID_V) is None  # inside the floor's band
    sm.step(T0, NOON, 40, MID_V)
    t = sm.step(T0 + timedelta(hours=1), NOON, 20, MID_V)
    assert t is not None
    assert t.reason is Reason.SOC_FLOOR


def test_missing_inputs_rest_the_battery_after_a_grace_minute() -> None:
    sm = machine()
    sm.step(T0, NOON, 50, MID_V)  # charging
    assert sm.step(T0 + timedelta(seconds=5), NOON, None, MID_V) is None
    assert sm.step(T0 + timedelta(seconds=50), NOON, 50, None) is None
    t = sm.step(T0 + timedelta(seconds=65), NOON, None, None)
    assert t is not None
    assert (t.to_state, t.reason) == (BatteryState.REST, Reason.INPUTS_UNAVAILABLE)


def test_a_request_to_rest_needs_no_inputs_and_no_dwell() -> None:
    sm = machine()
    sm.step(T0, NOON, 50, MID_V)
    sm.request(T0, BatteryMode.REST, None)
    t = sm.step(T0 + timedelta(seconds=1), NOON, 50, MID_V)
    assert t is not None
    assert t.to_state is BatteryState.REST


def test_memory_round_trip() -> None:
    sm = machine()
    sm.step(T0, NOON, 50, MID_V)
    sm.request(T0, BatteryMode.SELL, T0 + timedelta(hours=2))
    restored = machine_state_from(sm.snapshot())
    assert restored == sm.memory
    with pytest.raises(ValueError, match="time zone"):
        machine_state_from({**sm.snapshot(), "since": "2026-06-01T12:00:00"})
    with pytest.raises(ValueError, match="discharging"):
        machine_state_from({**sm.snapshot(), "state": "discharging"})
    with pytest.raises(TypeError):
        machine_state_from(["rest"])


def test_an_uncertain_soc_stops_selling_before_the_floor() -> None:
    """At 3 points of doubt, selling stops two sigmas above the floor."""
    sm = machine()
    sm.request(T0, BatteryMode.SELL, None)
    assert sm.step(T0, NOON, 50, MID_V, 3.0) is not None
    assert sm.step(T0 + timedelta(minutes=1), NOON, 26.1, MID_V, 3.0) is None
    t = sm.step(T0 + timedelta(minutes=2), NOON, 26.0, MID_V, 3.0)
    assert t is not None
    assert (t.to_state, t.reason) == (BatteryState.REST, Reason.SOC_FLOOR)
    assert t.detail == "State of charge 26.0 % ± 3.0 reached the floor 20 %."
    # Selling starts again only once it is surely above the floor and its band.
    assert sm.step(T0 + timedelta(hours=1), NOON, 28.9, MID_V, 3.0) is None
    t = sm.step(T0 + timedelta(hours=2), NOON, 26.1, MID_V, 1.0)
    assert t is not None
    assert t.to_state is BatteryState.SELL


def test_an_uncertain_soc_stops_charging_before_the_ceiling() -> None:
    sm = machine()
    sm.step(T0, NOON, 50, MID_V, 3.0)
    assert sm.step(T0 + timedelta(minutes=1), NOON, 63.9, MID_V, 3.0) is None
    t = sm.step(T0 + timedelta(minutes=2), NOON, 64.0, MID_V, 3.0)
    assert t is not None
    assert (t.to_state, t.reason) == (BatteryState.REST, Reason.SOC_CEILING)


def test_a_ceiling_of_100_is_left_to_the_absorb_voltage() -> None:
    """Charging to full ends at the absorb voltage, whatever the estimate says."""
    sm = machine(soc_ceiling=100, sell_window=(time(18, 0), time(22, 0)))
    sm.step(T0, NOON, 90, MID_V, 3.0)
    assert sm.memory.state is BatteryState.CHARGE
    assert sm.step(T0 + timedelta(minutes=1), NOON, 100, 3.45, 3.0) is None
    t = sm.step(T0 + timedelta(minutes=2), NOON, 100, 3.55, 3.0)
    assert t is not None
    assert t.reason is Reason.VOLTAGE_HIGH
    # A full battery charges again once it has been used, not at once.
    assert sm.step(T0 + timedelta(hours=1), NOON, 97.5, MID_V, 3.0) is None
    t = sm.step(T0 + timedelta(hours=2), NOON, 96.9, MID_V, 3.0)
    assert t is not None
    assert t.to_state is BatteryState.CHARGE


def _selling(sm: BatteryStateMachine) -> datetime:
    """Bring a machine to selling; return when it sells."""
    sm.step(T0, NOON, 71, MID_V)
    assert sm.memory.state is BatteryState.SELL
    return T0


# Charging only at night: at noon a rested battery may only sell or rest.
NIGHT_CHARGE = (time(1, 0), time(2, 0))


def test_automatic_selling_stops_at_the_peak_reserve() -> None:
    sm = machine(charge_window=NIGHT_CHARGE)
    at = _selling(sm)
    assert sm.step(at + timedelta(minutes=1), NOON, 56, MID_V, reserve=55) is None
    t = sm.step(at + timedelta(minutes=2), NOON, 55, MID_V, reserve=55)
    assert t is not None
    assert (t.to_state, t.reason) == (BatteryState.REST, Reason.PEAK_RESERVE)
    assert "55 % peak shaving holds" in t.detail
    # Rested, it does not sell again into the reserve, nor just above it.
    later = at + timedelta(hours=1)
    assert sm.step(later, NOON, 57, MID_V, reserve=55) is None
    assert sm.memory.state is BatteryState.REST
    # The reserve gone (the evening's peak shaved), it sells again.
    t = sm.step(later + timedelta(minutes=1), NOON, 57, MID_V, reserve=None)
    assert t is not None
    assert t.to_state is BatteryState.SELL


def test_the_peak_reserve_is_judged_on_the_low_side_of_the_soc() -> None:
    sm = machine(charge_window=NIGHT_CHARGE)
    at = _selling(sm)
    # 58 % ± 2: the SOC may be 54 %, below a 55 % reserve.
    t = sm.step(at + timedelta(minutes=1), NOON, 58, MID_V, 2.0, reserve=55)
    assert t is not None
    assert t.reason is Reason.PEAK_RESERVE


def test_a_requested_sale_goes_through_the_peak_reserve_not_the_floor() -> None:
    # The user's request is above the peak limit in the site's order.
    sm = machine()
    sm.request(T0, BatteryMode.SELL, None)
    t = sm.step(T0, NOON, 40, MID_V, reserve=60)
    assert t is not None
    assert (t.to_state, t.reason) == (BatteryState.SELL, Reason.REQUESTED)
    assert sm.step(T0 + timedelta(minutes=1), NOON, 30, MID_V, reserve=60) is None
    t = sm.step(T0 + timedelta(minutes=2), NOON, 20, MID_V, reserve=60)
    assert t is not None
    assert t.reason is Reason.SOC_FLOOR
