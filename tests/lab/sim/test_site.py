"""The simulated site and its profiles: balance, phases, meter values."""

from datetime import UTC, datetime
import math
from pathlib import Path

import pytest

from custom_components.energy_orchestrator.lib.drivers.eastron import SDM630_POINTS
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.devices.wallbox import site_wallbox
from eo_lab.sim.profiles import (
    Profile,
    bundled_profile,
)
from eo_lab.sim.site import Site

MIDNIGHT = datetime(2025, 6, 1, tzinfo=UTC).timestamp()
DAY = 86400.0


def _battery(**kwargs: float) -> SimBattery:
    return SimBattery(capacity_ah=100.0, initial_soc=0.5, seed=1, **kwargs)  # type: ignore[arg-type]


def _site(**kwargs: object) -> Site:
    return Site(bundled_profile(), _battery(), start_time=MIDNIGHT, **kwargs)  # type: ignore[arg-type]


# Profiles


def test_bundled_profile() -> None:
    profile = bundled_profile()
    assert len(profile.times) == 475
    assert profile.period == 475 * 1800
    assert profile.start_epoch == datetime(2025, 3, 12, tzinfo=UTC).timestamp()
    assert profile.load_w(0) == pytest.approx(1381.539)
    # First day: PV by day, none at night although the night cells are empty.
    assert profile.pv_w(13 * 3600) == pytest.approx(904.139)
    assert profile.pv_w(22 * 3600) == 0.0
    assert profile.pv_w(3 * 3600) == 0.0
    assert all(v >= 0 for v in profile.pv)
    assert all(v > 0 for v in profile.load)


def test_profile_interpolates_loops_and_fills_gaps(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "time,load,pv\n"
        "2025-01-01T00:00:00,100,\n"
        "2025-01-01T01:00:00,,50\n"  # a missing load sample
        "2025-01-01T02:00:00,300,-5\n"  # PV standby draw
        "2025-01-01T03:00:00,400,\n"  # a short PV gap: interpolated
        "2025-01-01T04:00:00,500,70\n"
    )
    profile = Profile.from_csv(
        path, time_column="time", load_column="load", pv_column="pv"
    )
    assert profile.start_epoch == datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    assert profile.period == 5 * 3600
    assert profile.load_w(3600) == pytest.approx(200)  # filled from neighbours
    assert profile.load_w(1800) == pytest.approx(150)  # linear between samples
    assert profile.pv_w(2 * 3600) == 0.0  # clamped
    assert profile.pv_w(3 * 3600) == pytest.approx(35)
    # After the last sample the profile runs back to the first, then loops.
    assert profile.load_w(4.5 * 3600) == pytest.approx(300)
    assert profile.load_w(5 * 3600 + 1800) == pytest.approx(150)
    assert profile.load_w(-1800) == pytest.approx(300)
    # The first PV cell is missing: its gap wraps around the loop
    # (last known 70 W at 4 h, next 50 W at 1 h + period = 6 h), 2 h long:
    # interpolated.
    assert profile.pv_w(0) == pytest.approx(60)


def test_long_pv_gap_is_night() -> None:
    hours = [h * 3600.0 for h in range(24)]
    pv: list[float | None] = [None] * 24
    pv[12] = 1000.0
    pv[13] = 800.0
    profile = Profile.from_samples(hours, [100.0] * 24, pv)
    assert profile.pv_w(12.5 * 3600) == pytest.approx(900)
    assert profile.pv_w(20 * 3600) == 0.0
    assert profile.pv_w(6 * 3600) == 0.0


def test_profile_rejects_a_csv_without_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("time,load\n0,1\n")
    with pytest.raises(ValueError, match="lacks the columns"):
        Profile.from_csv(path, time_column="time", load_column="load", pv_column="pv")


# Site


def test_energy_balances_over_a_day() -> None:
    """Grid, household, car, PV and battery balance, instant by instant and in Wh.

    The car comes home at 18:00 and charges at the station's safe current
    (6 A on three phases) until 23:00.
    """
    site = _site()
    station = site_wallbox(site)
    import0, export0 = site.grid_import_energy_wh, site.grid_export_energy_wh
    sampled_wh = 0.0
    socs: list[float] = []
    for minute in range(1, 24 * 60 + 1):
        station.car.plugged_in = 18 * 60 <= minute < 23 * 60
        site.advance_to(MIDNIGHT + minute * 60.0)
        sampled_wh += site.grid_power_w / 60
        socs.append(site.battery.soc)
        # One balance at every instant: load + car - pv + battery, by phase.
        assert site.grid_power_w == pytest.approx(
            site.load_w + site.consumer_power_w - site.pv_w + site.battery_power_w,
            abs=1e-6,
        )
        assert sum(site.grid_power_phases) == pytest.approx(site.grid_power_w, abs=1e-6)
        assert site.consumer_power_w == pytest.approx(
            sum(station.phase_powers(site.time)), rel=1e-3
        )
    net = site.grid_import_energy_wh - import0 - (site.grid_export_energy_wh - export0)
    balance = (
        site.load_energy_wh
        + site.consumer_energy_wh
        - site.pv_energy_wh
        + site.battery_charge_energy_wh
        - site.battery_discharge_energy_wh
    )
    assert net == pytest.approx(balance, abs=1e-6)
    # Five hours at 3 x 6 A, at the site's voltages (a few volts either way).
    assert site.consumer_energy_wh == pytest.approx(5 * 3 * 230 * 6 * 0.99, rel=0.02)
    # Sampled once a minute from outside, the integral agrees to the rounding
    # of the coarser sampling.
    assert sampled_wh == pytest.approx(net, abs=0.01 * site.load_energy_wh)
    # The day exercised the battery both ways, and it kept its SOC window.
    assert site.battery_charge_energy_wh > 100
    assert site.battery_discharge_energy_wh > 100
    assert min(socs) > 0.10 - 1e-3
    assert max(socs) < 0.95 + 1e-3
    # Per phase: the same net energy, but more gross flow, as with any meter
    # that counts each phase on its own.
    imports = site.grid_import_energy_phases
    exports = site.grid_export_energy_phases
    assert sum(imports) - sum(exports) == pytest.approx(net, abs=1e-6)
    assert sum(imports) >= site.grid_import_energy_wh - 1e-6


def test_the_meter_sees_the_car() -> None:
    """At night the car's power is imported, on the phases it charges on."""
    night = Profile.from_samples([0.0], [800.0], [0.0])
    # An empty battery: nothing covers the car but the grid.
    empty = Site(night, SimBattery(initial_soc=0.09), start_time=0.0)
    station = site_wallbox(empty)
    station.car.plugged_in = False
    empty.advance_to(10.0)
    before = empty.grid_power_phases
    assert empty.grid_power_w == pytest.approx(800.0)
    station.car.plugged_in = True
    empty.advance_to(20.0)
    car = station.phase_powers(empty.time)
    assert sum(car) == pytest.approx(3 * 230 * 6 * 0.99, rel=0.02)
    assert empty.grid_power_w == pytest.approx(800.0 + sum(car))
    for phase in range(3):
        assert empty.grid_power_phases[phase] == pytest.approx(
            before[phase] + car[phase]
        )
    values = empty.grid_meter_values()
    assert values["grid_power"] == pytest.approx(800.0 + sum(car))
    # A battery in self-consumption covers the car as it covers the house,
    # up to its power rating.
    covered = Site(night, SimBattery(initial_soc=0.5), start_time=0.0)
    site_wallbox(covered)
    covered.advance_to(10.0)
    assert covered.battery_power_w == pytest.approx(-(800.0 + sum(car)), rel=0.01)
    assert covered.grid_power_w == pytest.approx(0.0, abs=1.0)


def test_self_consumption_controller() -> None:
    # Full battery blocks charging, empty blocks discharging.
    profile = Profile.from_samples([0.0], [500.0], [3000.0])
    full = Site(profile, SimBattery(initial_soc=0.96), start_time=0.0)
    full.advance_to(10.0)
    assert full.battery_power_w == 0.0
    assert full.grid_power_w == pytest.approx(-2500.0)

    charging = Site(profile, SimBattery(initial_soc=0.5), start_time=0.0)
    charging.advance_to(10.0)
    assert charging.battery_power_w == pytest.approx(2500.0)
    assert charging.grid_power_w == pytest.approx(0.0, abs=1e-6)

    limited = Site(
        profile, SimBattery(initial_soc=0.5), start_time=0.0, battery_max_power_w=1000
    )
    limited.advance_to(10.0)
    assert limited.battery_power_w == pytest.approx(1000.0)
    assert limited.grid_power_w == pytest.approx(-1500.0)

    night = Profile.from_samples([0.0], [800.0], [0.0])
    empty = Site(night, SimBattery(initial_soc=0.09), start_time=0.0)
    empty.advance_to(10.0)
    assert empty.battery_power_w == 0.0
    assert empty.grid_power_w == pytest.approx(800.0)


def test_steps_are_at_most_one_second_and_time_never_rewinds() -> None:
    site = _site()
    calls: list[float] = []
    original = site._step

    def counting(end_time: float, dt: float) -> None:
        calls.append(dt)
        original(end_time, dt)

    site._step = counting  # type: ignore[method-assign]
    site.advance_to(MIDNIGHT + 10.5)
    assert len(calls) == 11
    assert max(calls) <= 1.0
    assert site.time == MIDNIGHT + 10.5
    site.advance_to(MIDNIGHT + 5)
    assert len(calls) == 11
    assert site.time == MIDNIGHT + 10.5


def test_grid_meter_values_are_consistent() -> None:
    site = _site()
    site.advance_to(MIDNIGHT + 8 * 3600)
    values = site.grid_meter_values()
    assert set(values) == {p.key for p in SDM630_POINTS}
    phases = (1, 2, 3)
    assert values["grid_power"] == pytest.approx(
        sum(values[f"grid_power_l{p}"] for p in phases)
    )
    for p in phases:
        volts = values[f"ac_voltage_l{p}"]
        power = values[f"grid_power_l{p}"]
        pf = values[f"ac_power_factor_l{p}"]
        assert 220 < volts < 240
        assert values[f"ac_current_l{p}"] == pytest.approx(
            abs(power) / (volts * abs(pf))
        )
        assert abs(pf) == pytest.approx(0.97)
        assert math.copysign(1, pf) == math.copysign(1, power)
        assert 1.68 < values[f"ac_voltage_l{p}_l{p % 3 + 1}"] / volts < 1.78
    apparent = values["grid_apparent_power"]
    assert apparent >= abs(values["grid_power"])
    assert values["grid_power_factor"] == pytest.approx(values["grid_power"] / apparent)
    assert values["grid_reactive_power"] >= 0
    assert 49.95 <= values["frequency"] <= 50.05
    assert values["grid_import_energy"] == site.grid_import_energy_wh


def test_voltage_and_frequency_vary_within_bounds() -> None:
    # Minute steps: the wander is slow, and the test stays fast.
    site = _site(battery_max_power_w=0.0, max_step_s=60.0)
    volts: list[float] = []
    hertz: list[float] = []
    for minute in range(0, 24 * 60, 10):
        site.advance_to(MIDNIGHT + minute * 60.0)
        values = site.grid_meter_values()
        volts.append(values["ac_voltage_l1"])
        hertz.append(values["frequency"])
    assert 2 < max(volts) - min(volts) < 15
    assert min(hertz) >= 49.95
    assert max(hertz) <= 50.05
    assert max(hertz) - min(hertz) > 0.03


def test_neutral_current() -> None:
    night = Profile.from_samples([0.0], [2300.0], [0.0])
    balanced = Site(
        night,
        SimBattery(),
        start_time=0.0,
        battery_max_power_w=0.0,
        phase_load_split=(1, 1, 1),
    )
    values = balanced.grid_meter_values()
    assert values["ac_current_neutral"] < 0.05 * values["ac_current_l1"]

    single = Site(
        night,
        SimBattery(),
        start_time=0.0,
        battery_max_power_w=0.0,
        phase_load_split=(1, 0, 0),
    )
    values = single.grid_meter_values()
    assert values["ac_current_l2"] == 0.0
    assert values["ac_current_neutral"] == pytest.approx(values["ac_current_l1"])


def test_initial_counters() -> None:
    site = _site(initial_import_wh=1000.0, initial_export_wh=300.0)
    assert site.grid_import_energy_phases == pytest.approx((500.0, 300.0, 200.0))
    assert site.grid_export_energy_phases == pytest.approx((100.0, 100.0, 100.0))


def test_deterministic() -> None:
    first, second = _site(seed=3), _site(seed=3)
    for site in (first, second):
        site.advance_to(MIDNIGHT + 3600.0)
    assert first.grid_meter_values() == second.grid_meter_values()
    assert first.battery.measured_current == second.battery.measured_current
