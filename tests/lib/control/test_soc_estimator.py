"""The SOC estimator: counting, witnesses, learning, bad samples, persistence."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
import json
import math
import random

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.energy_orchestrator.lib.control.battery_manager import (
    BatteryManager,
    BatteryManagerSettings,
    BatteryMode,
    BatterySample,
    BatteryState,
    Chemistry,
    Reason,
    SavedStateError,
    SettingsError,
)
from custom_components.energy_orchestrator.lib.control.battery_model import cell_ocv
from custom_components.energy_orchestrator.lib.control.coulomb import (
    CoulombCounter,
    CounterLimits,
    Rejection,
)
from eo_lab.sim.battery import SimBattery

T0 = datetime(2026, 6, 1, tzinfo=UTC)
CELLS = 16
LIMITS = CounterLimits(
    chemistry=Chemistry.LFP,
    cells_in_series=CELLS,
    nameplate_ah=100,
    voltage_min=2.9,
    voltage_max=3.55,
    tail_current_a=2,
    max_plausible_current_a=500,
)


def rest_voltage(soc: float) -> float:
    """The pack's open-circuit voltage at a SOC (0..1)."""
    return cell_ocv(Chemistry.LFP, soc) * CELLS


def counter_at(soc: float) -> CoulombCounter:
    counter = CoulombCounter(LIMITS)
    counter.initialise(soc, 0.05, "test")
    return counter


def run(
    counter: CoulombCounter,
    start: datetime,
    seconds: float,
    current: float,
    voltage: float,
    *,
    idle: bool = False,
    step: float = 5.0,
) -> datetime:
    """Feed a constant current for a while; return the time reached."""
    t = 0.0
    while t < seconds:
        t = min(t + step, seconds)
        counter.step(start + timedelta(seconds=t), voltage, current, idle=idle)
    return start + timedelta(seconds=seconds)


def test_counts_amp_hours_with_the_efficiency_on_charge() -> None:
    counter = counter_at(0.5)
    counter.step(T0, rest_voltage(0.5), 10.0, idle=False)
    now = run(counter, T0, 3600, 10.0, rest_voltage(0.5) + 1)
    assert counter.state.ah_charged == pytest.approx(10.0)
    assert counter.soc == pytest.approx(0.5 + 0.1 * 0.99)
    run(counter, now, 1800, -20.0, rest_voltage(0.5) - 1)
    # The first 5 s after the swing from +10 A to -20 A count the mean,
    # -5 A (trapezoid): 15 A x 5 s less than a step change would.
    ramp_ah = 15 * 5 / 3600
    assert counter.state.ah_discharged == pytest.approx(10.0 - ramp_ah)
    assert counter.soc == pytest.approx(0.5 + 0.1 * 0.99 - 0.1 + ramp_ah / 100)


def test_jittery_timestamps_count_the_same_charge() -> None:
    rng = random.Random(3)
    counter = counter_at(0.5)
    counter.step(T0, rest_voltage(0.5), 20.0, idle=False)
    t = 0.0
    while t < 3600:
        t = min(t + rng.uniform(0.5, 12), 3600)
        counter.step(T0 + timedelta(seconds=t), rest_voltage(0.5), 20.0, idle=False)
    assert counter.state.ah_charged == pytest.approx(20.0)


def test_a_gap_is_not_integrated_and_widens_the_uncertainty() -> None:
    counter = counter_at(0.5)
    counter.step(T0, rest_voltage(0.5), 30.0, idle=False)
    before = counter.state.uncertainty
    counter.step(T0 + timedelta(hours=2), rest_voltage(0.5), 30.0, idle=False)
    assert counter.state.ah_charged == 0
    assert counter.soc == 0.5
    assert counter.state.uncertainty > before
    assert counter.state.rejected == {Rejection.GAP: 1}


def test_bad_samples_change_nothing() -> None:
    counter = counter_at(0.5)
    counter.step(T0, rest_voltage(0.5), 0.0, idle=False)
    counter.step(T0 + timedelta(seconds=5), rest_voltage(0.5), 4000.0, idle=False)
    counter.step(T0 + timedelta(seconds=10), rest_voltage(0.5), None, idle=False)
    counter.step(T0 - timedelta(seconds=30), rest_voltage(0.5), 10.0, idle=False)
    assert counter.soc == 0.5
    assert counter.state.rejected == {
        Rejection.CURRENT_SPIKE: 1,
        Rejection.NO_CURRENT: 1,
        Rejection.TIME_BACKWARDS: 1,
    }


def test_full_and_empty_anchors_teach_capacity_and_efficiency() -> None:
    """Cycles between full and empty on a 90 Ah battery sold as 100 Ah."""
    counter = counter_at(0.5)
    counter.step(T0, rest_voltage(0.5), 0.0, idle=False)
    true_capacity, true_efficiency = 90.0, 0.96
    now = T0
    for _ in range(6):
        # Charge from empty to full: 90 Ah stored takes 90/0.96 Ah in.
        now = run(counter, now, true_capacity / true_efficiency / 30 * 3600, 30.0, 54.0)
        now = run(counter, now, 60, 1.0, 3.55 * CELLS)
        assert counter.soc == 1.0
        assert counter.state.source == "full"
        now = run(counter, now, true_capacity / 30 * 3600, -30.0, 52.0)
        now = run(counter, now, 60, -30.0, 2.85 * CELLS)
        assert counter.soc == 0.0
    assert counter.state.capacity_ah == pytest.approx(true_capacity, rel=0.03)
    assert counter.state_of_health == pytest.approx(90, abs=3)


def test_full_to_full_teaches_the_efficiency() -> None:
    counter = counter_at(0.9)
    counter.step(T0, rest_voltage(0.9), 0.0, idle=False)
    now = run(counter, T0, 120, 1.0, 3.55 * CELLS)  # full
    for _ in range(8):
        now = run(counter, now, 3600 * 2, -30.0, 52.0)  # 60 Ah out
        now = run(counter, now, 60 / 0.95 / 30 * 3600, 30.0, 54.0)  # 63.2 Ah in
        now = run(counter, now, 120, 1.0, 3.55 * CELLS)
    assert counter.state.efficiency == pytest.approx(0.95, abs=0.005)


def test_an_idle_rest_teaches_the_sensor_offset() -> None:
    counter = counter_at(0.5)
    counter.step(T0, rest_voltage(0.5), 0.25, idle=True)
    now = T0
    for _ in range(6):
        now = run(counter, now, 40 * 60, 0.25, rest_voltage(0.5), idle=True)
        now = run(counter, now, 600, -20.0, 51.0)  # a discharge ends the rest
    assert counter.state.offset_a == pytest.approx(0.25, abs=0.03)


def test_a_rest_on_the_steep_part_pulls_the_count_to_the_voltage() -> None:
    """Counted 40 %, rests at the voltage of 10 %: the voltage wins there."""
    counter = counter_at(0.4)
    counter.state.uncertainty = 0.15
    run(counter, T0, 3 * 3600, 0.0, rest_voltage(0.10))
    assert counter.soc == pytest.approx(0.10, abs=0.03)
    assert counter.state.source == "rest"


def test_a_rest_on_the_lfp_plateau_moves_the_count_only_a_little() -> None:
    """Counted 70 %, rests at the voltage of 55 %: the plateau says little."""
    counter = counter_at(0.7)
    counter.state.uncertainty = 0.05
    run(counter, T0, 3 * 3600, 0.0, rest_voltage(0.55))
    assert 0.6 < counter.soc < 0.7  # type: ignore[operator]


def settings_for(capacity: float = 100) -> BatteryManagerSettings:
    return BatteryManagerSettings.defaults(Chemistry.LFP, CELLS, capacity)


def test_a_new_manager_starts_from_the_bms_else_the_voltage() -> None:
    manager = BatteryManager(settings_for(), now=T0)
    status = manager.update(T0, BatterySample(voltage_v=rest_voltage(0.08)))
    assert status.soc == pytest.approx(8, abs=1)
    assert status.soc_source == "voltage"
    manager = BatteryManager(settings_for(), now=T0)
    status = manager.update(T0, BatterySample(voltage_v=53.0, bms_soc=64))
    assert status.soc == 64
    assert status.soc_source == "bms"


def test_power_gives_the_current_when_no_current_is_measured() -> None:
    manager = BatteryManager(settings_for(), now=T0)
    manager.update(T0, BatterySample(voltage_v=52.0, power_w=1040, bms_soc=50))
    status = manager.update(
        T0 + timedelta(hours=1), BatterySample(voltage_v=52.0, power_w=1040)
    )
    assert status.ah_charged == pytest.approx(0)  # an hour is a gap
    for second in range(5, 3601, 5):
        status = manager.update(
            T0 + timedelta(hours=1, seconds=second),
            BatterySample(voltage_v=52.0, power_w=1040),
        )
    assert status.ah_charged == pytest.approx(20, rel=1e-3)


def simulate(
    manager: BatteryManager, battery: SimBattery, start: datetime, hours: float
) -> datetime:
    """Cycle a simulated battery, 5-second samples of its sensors."""
    seconds = int(hours * 3600)
    for second in range(0, seconds, 5):
        phase = (second // 3600) % 6
        current = 25.0 if phase < 3 else -25.0
        battery.step(current, 5)
        manager.update(
            start + timedelta(seconds=second),
            BatterySample(
                voltage_v=battery.terminal_voltage, current_a=battery.measured_current
            ),
        )
    return start + timedelta(seconds=seconds)


def test_a_restart_resumes_exactly_where_it_was() -> None:
    """Snapshot, JSON, restore, continue: the same as never stopping."""
    straight = BatteryManager(settings_for(), now=T0)
    first_half = BatteryManager(settings_for(), now=T0)
    sims = [SimBattery(initial_soc=0.5, seed=1), SimBattery(initial_soc=0.5, seed=1)]
    middle = simulate(straight, sims[0], T0, 10)
    simulate(first_half, sims[1], T0, 10)
    saved = json.loads(json.dumps(first_half.snapshot()))
    resumed = BatteryManager(settings_for(), now=middle, saved=saved)
    simulate(straight, sims[0], middle, 10)
    simulate(resumed, sims[1], middle, 10)
    assert resumed.status.soc == straight.status.soc
    assert resumed.status.state == straight.status.state
    assert resumed.status.ah_charged == straight.status.ah_charged
    resumed_state, straight_state = resumed.snapshot(), straight.snapshot()
    resumed_energy = resumed_state.pop("energy")
    straight_energy = straight_state.pop("energy")
    assert resumed_state == straight_state
    # Energy is counted from the first sample after the restart on: the one
    # step across it (25 A at under 60 V for 5 s) is all it misses.
    step_wh = 25 * 60 * 5 / 3600
    for side in ("charged_wh", "discharged_wh"):
        assert (
            straight_energy[side] - step_wh
            <= resumed_energy[side]
            <= straight_energy[side]
        )


def test_energy_in_and_out_is_counted_from_voltage_and_current() -> None:
    """An hour at 20 A and 52 V in, half an hour at 40 A out: 1040 Wh each."""
    manager = BatteryManager(settings_for(), now=T0)
    now = T0
    for current, seconds in ((20.0, 3600), (-40.0, 1800)):
        start = now + timedelta(seconds=5)
        for second in range(0, seconds + 1, 5):
            now = start + timedelta(seconds=second)
            status = manager.update(
                now, BatterySample(voltage_v=52.0, current_a=current, bms_soc=50)
            )
    # The 5 s between the halves go from +1040 W to -2080 W, crossing zero a
    # third of the way: a triangle in, and one out twice as long and high.
    triangle_in_wh = 1040 * (5 / 3) / 2 / 3600
    # The status is rounded to the watt-hour; the count itself is not.
    assert status.energy_charged_wh == pytest.approx(1040 + triangle_in_wh, abs=0.5)
    assert status.energy_discharged_wh == pytest.approx(
        1040 + 4 * triangle_in_wh, abs=0.5
    )


def test_a_measured_power_is_counted_and_a_missing_one_is_not() -> None:
    manager = BatteryManager(settings_for(), now=T0)
    samples = [
        BatterySample(voltage_v=52.0, current_a=10.0, power_w=3600.0),
        BatterySample(voltage_v=52.0, power_w=3600.0),
        BatterySample(voltage_v=52.0),  # no current, no power
        BatterySample(voltage_v=52.0, power_w=3600.0),
        BatterySample(voltage_v=52.0, power_w=3600.0),
    ]
    for index, sample in enumerate(samples):
        status = manager.update(T0 + timedelta(seconds=5 * index), sample)
    assert status.energy_charged_wh == pytest.approx(10.0)


def test_a_state_saved_before_energy_was_counted_resumes_from_zero() -> None:
    manager = BatteryManager(settings_for(), now=T0)
    manager.update(T0, BatterySample(voltage_v=53.0, bms_soc=64))
    saved = manager.snapshot()
    del saved["energy"]
    resumed = BatteryManager(settings_for(), now=T0, saved=saved)
    assert resumed.status.soc == 64
    assert resumed.status.energy_charged_wh == 0


def test_a_resumed_manager_does_not_start_over_from_the_voltage() -> None:
    manager = BatteryManager(settings_for(), now=T0)
    manager.update(T0, BatterySample(voltage_v=53.0, bms_soc=64))
    resumed = BatteryManager(settings_for(), now=T0, saved=manager.snapshot())
    # A voltage that says 8 % and a BMS that says 10 %: the count stays.
    status = resumed.update(
        T0 + timedelta(seconds=5),
        BatterySample(voltage_v=rest_voltage(0.08), bms_soc=10),
    )
    assert status.soc == 64


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ({"version": 99}, "version"),
        ({"counter": {"soc": 1.7}}, "0..1"),
        ({"counter": {"soc": 0.5, "capacity_ah": "many"}}, "finite"),
        ({"counter": "garbage"}, "damaged"),
        ({"machine": {"state": "flying"}}, "damaged"),
        ({"energy": {"charged_wh": -5.0, "discharged_wh": 0.0}}, "not a count"),
    ],
)
def test_a_damaged_snapshot_is_refused_with_a_reason(
    damage: dict[str, object], message: str
) -> None:
    manager = BatteryManager(settings_for(), now=T0)
    manager.update(T0, BatterySample(voltage_v=53.0, bms_soc=64))
    saved = {**manager.snapshot(), **damage}
    with pytest.raises(SavedStateError, match=message):
        BatteryManager(settings_for(), now=T0, saved=saved)


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"soc_floor": 80, "soc_ceiling": 70}, "soc_floor", "floor_above_ceiling"),
        ({"soc_ceiling": 120}, "soc_ceiling", "out_of_range"),
        ({"cell_voltage_min": 3.6}, "cell_voltage_min", "cutoff_above_absorb"),
        ({"cell_voltage_max": 12.0}, "cell_voltage_max", "voltage_implausible"),
        ({"capacity_ah": math.nan}, "capacity_ah", "out_of_range"),
    ],
)
def test_settings_that_cannot_work_name_the_field(
    changes: dict[str, float], field: str, code: str
) -> None:
    bad = BatteryManagerSettings(**{**settings_for().__dict__, **changes})  # type: ignore[arg-type]
    with pytest.raises(SettingsError) as err:
        bad.validate()
    assert (err.value.field, err.value.code) == (field, code)


def test_calibrate_refuses_nonsense() -> None:
    manager = BatteryManager(settings_for(), now=T0)
    for bad in (-1, 101, math.nan):
        with pytest.raises(ValueError, match=r"0\.\.100"):
            manager.calibrate_soc(T0, bad)
    manager.calibrate_soc(T0, 42)
    assert manager.status.soc == 42
    assert manager.status.soc_source == "calibrated"


samples = st.lists(
    st.tuples(
        st.floats(min_value=-30, max_value=4000),  # seconds since the last one
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(samples)
def test_no_input_drives_the_soc_out_of_range(
    sequence: list[tuple[float, float | None, float | None]],
) -> None:
    manager = BatteryManager(settings_for(), now=T0)
    now = T0
    for step, voltage, current in sequence:
        now += timedelta(seconds=step)
        status = manager.update(
            now, BatterySample(voltage_v=voltage, current_a=current)
        )
        if status.soc is not None:
            assert 0 <= status.soc <= 100
            assert math.isfinite(status.soc_uncertainty or 0)
        assert math.isfinite(status.ah_charged)
        assert math.isfinite(status.ah_discharged)


def cycle(
    counter: CoulombCounter,
    start: datetime,
    true_capacity: float,
    soc_from: float,
    soc_to: float,
    *,
    current: float = 20.0,
) -> datetime:
    """Move a battery of ``true_capacity`` from one true SOC to another.

    The voltage under current stays on the plateau (no anchor); the charge
    counted is what really flowed, so any error is the counter's capacity.
    """
    amps = current if soc_to > soc_from else -current
    stored = (soc_to - soc_from) * true_capacity
    flowed = stored / LIMITS_EFFICIENCY if amps > 0 else stored
    return run(counter, start, flowed / amps * 3600, amps, rest_voltage(0.5))


def rest(
    counter: CoulombCounter, start: datetime, soc: float, came_from: int = 0
) -> datetime:
    """Rest for an hour at the voltage of a true SOC.

    An LFP cell rests 6 mV above its curve after charging (``came_from``
    1) and as much below after discharging (-1).
    """
    voltage = rest_voltage(soc) + came_from * 0.006 * CELLS
    return run(counter, start, 3600, 0.0, voltage)


LIMITS_EFFICIENCY = 0.99  # the LFP default the counter starts with


def test_two_rests_far_apart_teach_the_capacity() -> None:
    """A 92 Ah battery sold as 100 Ah, cycled 10-95 %, never full nor empty."""
    counter = counter_at(0.5)
    counter.state.uncertainty = 0.1  # a start from the BMS
    counter.step(T0, rest_voltage(0.5), 0.0, idle=False)
    now = cycle(counter, T0, 92, 0.5, 0.1)
    now = rest(counter, now, 0.1, -1)
    assert counter.state.capacity_ah == 100  # a span from a start teaches nothing
    for _ in range(2):
        now = cycle(counter, now, 92, 0.1, 0.95)
        now = rest(counter, now, 0.95, 1)
        now = cycle(counter, now, 92, 0.95, 0.1)
        now = rest(counter, now, 0.1, -1)
    assert counter.state.capacity_ah == pytest.approx(92, rel=0.02)
    assert counter.state.capacity_uncertainty_ah < 3
    assert counter.state.source == "rest"
    assert "full" not in (counter.state.anchor or "")


def test_a_rest_on_the_plateau_teaches_no_capacity() -> None:
    """The plateau's curve is never quite the battery's: it moves the SOC only."""
    counter = counter_at(0.5)
    counter.step(T0, rest_voltage(0.1), 0.0, idle=False)
    now = rest(counter, T0, 0.1)
    now = cycle(counter, now, 92, 0.1, 0.6)
    now = rest(counter, now, 0.6, 1)
    assert counter.state.capacity_ah == 100
    counted = 0.1 + 0.5 * 92 / 100
    assert counter.soc is not None
    assert counted < counter.soc < 0.6


def test_the_first_witness_corrects_a_start_told_wrong() -> None:
    """Told 65 % when the battery holds 55 %: the first steep rest says 10 %."""
    counter = CoulombCounter(LIMITS)
    counter.calibrate(0.65)
    counter.step(T0, rest_voltage(0.55), 0.0, idle=False)
    now = cycle(counter, T0, 100, 0.55, 0.10)
    assert counter.soc == pytest.approx(0.20, abs=0.005)  # the count is 10 off
    rest(counter, now, 0.10, -1)
    assert counter.soc == pytest.approx(0.10, abs=0.01)
    assert counter.state.source == "rest"
    # The 10 points were the start's, not the capacity's.
    assert counter.state.capacity_ah == 100


def test_a_witness_far_off_the_count_is_believed() -> None:
    """A count that claims 1 % where a steep rest says 14 % off: the rest wins."""
    counter = counter_at(0.25)
    counter.step(T0, rest_voltage(0.1), 0.0, idle=False)
    now = rest(counter, T0, 0.1)  # witnessed: the count is footed
    counter.state.soc = 0.24  # as if a gap went uncounted
    counter.state.uncertainty = 0.01
    rest(counter, now + timedelta(hours=7), 0.1)
    assert counter.soc == pytest.approx(0.1, abs=0.01)
    assert counter.state.uncertainty >= 0.01


def test_one_noisy_sample_does_not_flip_the_hysteresis_side() -> None:
    counter = counter_at(0.5)
    counter.step(T0, rest_voltage(0.5), 20.0, idle=False)
    now = run(counter, T0, 1800, 20.0, rest_voltage(0.5))
    assert counter.state.last_direction == 1
    now = run(counter, now, 10, -5.0, rest_voltage(0.5))  # a blip the other way
    run(counter, now, 600, 0.0, rest_voltage(0.5))
    assert counter.state.last_direction == 1


def test_near_the_floor_the_manager_errs_low() -> None:
    """A 94 Ah battery sold as 100 Ah: its count reads high as it empties.

    Selling stops where the SOC may be at the floor, a sigma and a half below
    the estimate; the battery itself is still above it.
    """
    settings = replace(settings_for(), soc_floor=20.0, soc_ceiling=95.0)
    battery = SimBattery(
        capacity_ah=94, initial_soc=0.95, current_offset_a=0, current_noise_a=0
    )
    manager = BatteryManager(settings, now=T0)
    now = T0
    # An hour's rest near full: the steep end of the curve confirms the start.
    manager.request_mode(now, BatteryMode.REST, now + timedelta(hours=1))
    status = manager.update(
        now, BatterySample(battery.terminal_voltage, 0.0, bms_soc=95)
    )
    while (
        status.state is not BatteryState.REST or status.reason is not Reason.SOC_FLOOR
    ):
        now += timedelta(seconds=10)
        selling = status.state is BatteryState.SELL
        battery.step(-30.0 if selling else 0.0, 10)
        status = manager.update(
            now, BatterySample(battery.terminal_voltage, battery.measured_current)
        )
        assert now < T0 + timedelta(hours=6)
    assert status.soc is not None
    assert status.soc_uncertainty is not None
    assert status.soc > 20 + status.soc_uncertainty  # the estimate alone would sell on
    assert battery.soc * 100 >= 20
    assert status.soc > battery.soc * 100  # and it does read high
    assert status.soc_source == "rest"


def test_what_was_learned_survives_a_restart() -> None:
    """Capacity, offset and every uncertainty come back as they were."""
    manager = BatteryManager(settings_for(), now=T0)
    counter = manager.counter
    counter.initialise(0.5, 0.1, "bms")
    counter.step(T0, rest_voltage(0.5), 0.0, idle=False)
    now = cycle(counter, T0, 92, 0.5, 0.1)
    now = rest(counter, now, 0.1, -1)
    now = cycle(counter, now, 92, 0.1, 0.95)
    now = rest(counter, now, 0.95, 1)
    learned = counter.state
    assert learned.capacity_ah < 97
    assert learned.soc_capacity_covariance != 0
    saved = json.loads(json.dumps(manager.snapshot()))
    resumed = BatteryManager(settings_for(), now=now, saved=saved)
    assert resumed.counter.state == learned
    assert resumed.status.learned_capacity_uncertainty_ah == pytest.approx(
        learned.capacity_uncertainty_ah, abs=0.001
    )


V1_COUNTER = {
    "soc": 0.42,
    "uncertainty": 0.03,
    "source": "rest",
    "ah_charged": 812.5,
    "ah_discharged": 790.1,
    "capacity_ah": 93.0,
    "efficiency": 0.985,
    "offset_a": 0.12,
    "last_time": "2026-05-31T23:59:55+00:00",
    "last_current": -3.2,
    "rest_since": None,
    "segment_since": None,
    "segment_voltage_sum": 0.0,
    "segment_samples": 0,
    "previous_segment_voltage": None,
    "rest_current_sum": 0.0,
    "rest_samples": 0,
    "rest_idle": True,
    "rest_done": False,
    "witness_time": "2026-05-31T06:10:00+00:00",
    "witness_soc": 0.12,
    "witness_net_ah": 28.4,
    "last_direction": -1,
    "anchor": None,
    "anchor_ah_in": 0.0,
    "anchor_ah_out": 0.0,
    "rejected": {"gap": 2},
}


def test_a_state_saved_by_the_first_layout_is_migrated() -> None:
    """What the old estimator learned is kept; the new doubts start honest."""
    manager = BatteryManager(settings_for(), now=T0)
    saved = manager.snapshot()
    saved["version"] = 1
    saved["counter"] = dict(V1_COUNTER)
    resumed = BatteryManager(settings_for(), now=T0, saved=saved)
    state = resumed.counter.state
    assert (state.soc, state.capacity_ah, state.offset_a) == (0.42, 93.0, 0.12)
    assert (state.efficiency, state.ah_charged) == (0.985, 812.5)
    assert state.witnessed  # it had a witness: the next one may teach
    assert state.capacity_uncertainty_ah == pytest.approx(6.0)
    assert state.offset_uncertainty_a == pytest.approx(0.05)
    assert resumed.status.soc_uncertainty == 3.0
    assert resumed.snapshot()["version"] == 2
    assert "witness_time" not in resumed.snapshot()["counter"]
