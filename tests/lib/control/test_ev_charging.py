"""The wallbox phase manager: surplus, phases that cannot oscillate, sources, deadlines."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.energy_orchestrator.lib.control.ev_charging import (
    ChargeMode,
    EvChargingManager,
    EvInputs,
    EvStatus,
    PhaseChoice,
    PvRoute,
    WallboxLimits,
)

T0 = datetime(2026, 6, 1, 10, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class Car:
    """A car that takes what the wallbox allows from the next minute on."""

    def __init__(self, manager: EvChargingManager, voltage: float = 230.0) -> None:
        self.manager = manager
        self.voltage = voltage
        self.power = 0.0
        self.statuses: list[EvStatus] = []

    def minute(
        self, now: datetime, surplus: float, **battery: float | None
    ) -> EvStatus:
        """Step with the site exporting ``surplus`` before the car."""
        status = self.manager.update(
            now,
            EvInputs(
                grid_power_w=self.power - surplus,
                ev_power_w=self.power,
                **battery,  # type: ignore[arg-type]
            ),
        )
        command = status.command
        self.power = (
            command.current_a * self.voltage * command.phases if command.enable else 0.0
        )
        self.statuses.append(status)
        return status


def solar(limits: WallboxLimits | None = None) -> tuple[EvChargingManager, Car]:
    manager = EvChargingManager(limits or WallboxLimits(), now=T0)
    manager.start(T0, ChargeMode.SOLAR)
    return manager, Car(manager)


def test_starts_after_the_delay_and_follows_the_surplus() -> None:
    _, car = solar()
    assert not car.minute(T0, 2500).command.enable  # the delay runs
    status = car.minute(T0 + MINUTE, 2500)
    assert status.command.enable
    assert (status.command.phases, status.command.current_a) == (1, 10.0)
    assert status.start_stops == 1


def test_a_short_cloud_keeps_the_car_at_its_minimum() -> None:
    _, car = solar()
    now = T0
    for _ in range(3):
        car.minute(now, 3000)
        now += MINUTE
    for _ in range(2):  # two cloudy minutes: under the 3-minute disable delay
        status = car.minute(now, 200)
        now += MINUTE
        assert status.command.enable
        assert status.command.current_a == 6.0
    for _ in range(4):
        status = car.minute(now, 200)
        now += MINUTE
    assert not status.command.enable
    assert [s.reason for s in car.statuses].count("surplus_gone") == 1


def test_switching_up_stops_switches_waits_and_resumes() -> None:
    limits = WallboxLimits(min_phase_switch_interval=timedelta(minutes=10))
    manager, car = solar(limits)
    now = T0
    for _ in range(3):
        car.minute(now, 2000)
        now += MINUTE
    assert car.statuses[-1].command.phases == 1
    sequence = []
    for _ in range(8):
        status = car.minute(now, 6000)
        sequence.append((status.command.enable, status.command.phases, status.reason))
        now += MINUTE
    # Up delay (2 min), then: stop; switch once no current flows; pause; resume.
    stop = sequence.index((False, 1, "stopping"))
    assert sequence[stop + 1] == (False, 3, "phases")
    assert (False, 3, "pausing") not in sequence or sequence[stop + 2][2] == "pausing"
    resumed = next(s for s in sequence[stop:] if s[0])
    assert resumed[1] == 3
    assert car.statuses[-1].command.current_a == 8.0  # 6000 / 690
    assert manager.status.phase_switches == 1


@pytest.mark.parametrize("max_current", [6.0, 10.0, 16.0, 32.0])
def test_no_oscillation_in_the_gap_whatever_the_maximum(max_current: float) -> None:
    """Surplus swinging across the 16 A one-phase maximum (3.7 kW) and up to
    just above the three-phase minimum (4.1 kW): at most one switch."""
    manager, car = solar(WallboxLimits(max_current_a=max_current))
    now = T0
    for minute in range(240):
        car.minute(now, 3600 if minute % 6 < 3 else 4300)
        now += MINUTE
    assert manager.status.phase_switches <= 1


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=15000), min_size=1, max_size=200),
    st.floats(min_value=6, max_value=32),
    st.integers(min_value=1, max_value=20),
)
def test_phase_switches_are_bounded_by_the_interval(
    surpluses: list[float], max_current: float, interval_min: int
) -> None:
    limits = WallboxLimits(
        max_current_a=max_current,
        min_phase_switch_interval=timedelta(minutes=interval_min),
    )
    manager, car = solar(limits)
    for minute, surplus in enumerate(surpluses):
        car.minute(T0 + minute * MINUTE, surplus)
    assert manager.status.phase_switches <= len(surpluses) // interval_min + 1
    # Never a phase change while the car draws current.
    for before, after in zip(car.statuses, car.statuses[1:], strict=False):
        if before.command.phases != after.command.phases:
            assert not before.command.enable or before.reason == "stopping"


def test_the_battery_feeds_the_car_only_above_its_floor() -> None:
    manager = EvChargingManager(WallboxLimits(), now=T0)
    manager.start(T0, ChargeMode.SOLAR_BATTERY)
    car = Car(manager)
    battery = {
        "battery_power_w": 0.0,
        "battery_floor_soc": 30.0,
        "battery_max_discharge_w": 2000.0,
    }
    car.minute(T0, 0, battery_soc=60.0, **battery)
    status = car.minute(T0 + MINUTE, 0, battery_soc=60.0, **battery)
    assert status.command.enable
    assert status.available_w == 2000
    manager.start(T0, ChargeMode.SOLAR_BATTERY)
    status = manager.update(
        T0 + 2 * MINUTE,
        EvInputs(grid_power_w=0, ev_power_w=0, battery_soc=31.0, **battery),
    )
    assert status.available_w == 0


def test_deadline_starts_at_the_latest_moment_on_the_phases_in_use() -> None:
    manager = EvChargingManager(WallboxLimits(), now=T0)
    deadline = T0 + timedelta(hours=10)
    manager.start(T0, ChargeMode.DEADLINE, target_energy_wh=7360, deadline=deadline)
    # Dark: nothing until the final stretch; 7.36 kWh at 3.68 kW (one phase,
    # the car is on one since it rested) takes 2 h, plus 15 min to spare.
    car = Car(manager)
    manager.memory.phases = 1
    now = T0
    while (now < deadline and not car.statuses[-1:]) or (
        car.statuses and not car.statuses[-1].command.enable and now < deadline
    ):
        car.minute(now, 0)
        now += MINUTE
    assert now - MINUTE == deadline - timedelta(hours=2, minutes=15)
    assert car.statuses[-1].command.phases == 1
    assert car.statuses[-1].reason == "deadline"
    while now < deadline:
        status = car.minute(now, 0)
        now += MINUTE
    assert status.reason == "target_reached"
    assert status.session_energy_wh == pytest.approx(7360, abs=80)
    assert status.grid_energy_wh == pytest.approx(status.session_energy_wh)


def test_a_house_battery_covering_the_car_is_not_taken_for_sun() -> None:
    """A battery in self-consumption hides a car that takes more than the sun.

    The grid shows nothing when the sun drops from 3.5 to 2 kW under a car
    taking 3.45 kW: the battery gives the 1.45 kW. The car comes down to
    the sun's 2 kW (8 A) instead of emptying the battery at 15 A.
    """
    _, car = solar()
    car.minute(T0, 3500)
    status = car.minute(T0 + MINUTE, 3500)
    assert status.command.current_a == 15.0
    covered = car.power - 2000
    status = car.manager.update(
        T0 + 2 * MINUTE,
        EvInputs(grid_power_w=0, ev_power_w=car.power, battery_power_w=-covered),
    )
    assert status.available_w == pytest.approx(2000)
    assert status.command.current_a == 8.0


def test_the_final_stretch_goes_to_three_phases_when_the_sun_carries_them() -> None:
    """Dark until the one-phase stretch starts; then 6 kW of sun comes.

    The car goes up to three phases once (stop, switch, resume) and takes
    the sun's 8 A; on three phases the deadline is hours away again, so it
    follows the sun, and is done long before the deadline.
    """
    manager = EvChargingManager(
        WallboxLimits(min_phase_switch_interval=timedelta(minutes=5)), now=T0
    )
    deadline = T0 + timedelta(hours=10)
    manager.start(T0, ChargeMode.DEADLINE, target_energy_wh=7360, deadline=deadline)
    manager.memory.phases = 1
    car = Car(manager)
    now = T0
    while not car.statuses[-1:] or car.statuses[-1].reason != "deadline":
        car.minute(now, 0)
        now += MINUTE
    assert car.statuses[-1].command.phases == 1
    for _ in range(10):
        car.minute(now, 6000)
        now += MINUTE
    status = car.statuses[-1]
    assert (status.command.phases, status.command.current_a) == (3, 8.0)
    assert status.phase_switches == 1
    while now < deadline and status.reason != "target_reached":
        status = car.minute(now, 6000)
        now += MINUTE
    assert status.reason == "target_reached"
    assert now < deadline - timedelta(minutes=30)
    assert status.phase_switches == 1
    assert status.solar_energy_wh > 0.5 * status.session_energy_wh


def test_fast_and_forced_phases() -> None:
    manager = EvChargingManager(WallboxLimits(max_current_a=32), now=T0)
    manager.start(T0, ChargeMode.FAST)
    status = manager.update(T0, EvInputs(grid_power_w=500, ev_power_w=0))
    assert (status.command.enable, status.command.current_a, status.command.phases) == (
        True,
        32,
        3,
    )
    manager.set_phases(T0, PhaseChoice.ONE)
    manager.stop(T0)
    manager.start(T0, ChargeMode.FAST)
    status = manager.update(T0 + MINUTE, EvInputs(grid_power_w=500, ev_power_w=0))
    assert status.command.phases == 1


def test_requests_that_cannot_work() -> None:
    manager = EvChargingManager(WallboxLimits(), now=T0)
    with pytest.raises(ValueError, match="target energy and a deadline"):
        manager.start(T0, ChargeMode.DEADLINE)
    with pytest.raises(ValueError, match="in the past"):
        manager.start(T0, ChargeMode.SOLAR, deadline=T0)
    with pytest.raises(ValueError, match="0-500 kWh"):
        manager.start(T0, ChargeMode.SOLAR, target_energy_wh=-3)
    single = EvChargingManager(WallboxLimits(can_switch_phases=False), now=T0)
    with pytest.raises(ValueError, match="cannot switch phases"):
        single.set_phases(T0, PhaseChoice.THREE)
    with pytest.raises(ValueError, match="minimum <= maximum"):
        WallboxLimits(min_current_a=10, max_current_a=6).validate()


def test_not_connected_and_a_restart() -> None:
    manager, car = solar()
    status = manager.update(
        T0, EvInputs(grid_power_w=-5000, ev_power_w=0, connected=False)
    )
    assert (status.command.enable, status.reason) == (False, "not_connected")
    for minute in range(30):
        car.minute(T0 + minute * MINUTE, 3000)
    saved = manager.snapshot()
    resumed = EvChargingManager(WallboxLimits(), now=T0, saved=saved)
    assert resumed.memory.mode is ChargeMode.SOLAR
    assert resumed.memory.session_wh == pytest.approx(manager.memory.session_wh)
    with pytest.raises(ValueError, match="neither 1 nor 3"):
        EvChargingManager(WallboxLimits(), now=T0, saved={**saved, "phases": 2})


def test_pv_is_bundled_onto_the_wallbox_phase_only_on_one_phase() -> None:
    """The user's fourth inverter: two thirds of the PV on the wallbox's phase."""
    routes = (PvRoute("balanced", 1 / 3), PvRoute("bundled", 2 / 3))
    limits = WallboxLimits(
        pv_routes=routes, min_phase_switch_interval=timedelta(minutes=1)
    )
    manager, car = solar(limits)
    assert manager.status.command.pv_route == "balanced"  # idle: even
    now = T0
    for _ in range(3):
        status = car.minute(now, 2500)
        now += MINUTE
    assert (status.command.phases, status.command.pv_route) == (1, "bundled")
    for _ in range(10):
        status = car.minute(now, 8000)
        now += MINUTE
    assert (status.command.phases, status.command.pv_route) == (3, "balanced")
    with pytest.raises(ValueError, match="share"):
        WallboxLimits(pv_routes=(PvRoute("x", 1.5),)).validate()
